//! HTTP caching as every read of a board does it, below both `rest/` (the board's state,
//! snapshots) and `transports/` (a short poll's `304`, pages of frames): the `ETag` is the
//! board's seq, `If-None-Match` names the seq a client holds, and the epoch header says
//! which incarnation of the board a seq belongs to (a board wiped and regrown to the same
//! seq is another board).

use axum::http::{header, HeaderMap, HeaderName, HeaderValue};

use board_core::api::EPOCH_HEADER;

/// The ETag of the board at `seq`: the seq, quoted.
pub fn etag(seq: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{seq}\"")).expect("a quoted number is a valid header")
}

/// The epoch header, naming the board's incarnation (epochs are URL-safe text).
pub fn epoch_header(epoch: &str) -> (HeaderName, HeaderValue) {
    let value = HeaderValue::from_str(epoch).unwrap_or_else(|_| HeaderValue::from_static("invalid-epoch"));
    (HeaderName::from_static(EPOCH_HEADER), value)
}

/// Does the request already hold the board at `seq` of `epoch`? Its `If-None-Match` lists
/// that seq's ETag (or `*`), and it names no other epoch: a seq from another epoch matches
/// nothing.
pub fn holds(headers: &HeaderMap, seq: u64, epoch: &str) -> bool {
    if_none_match(headers, &format!("\"{seq}\"")) && !foreign_epoch(headers, epoch)
}

/// Does `If-None-Match` list this ETag (or `*`)? Weak validators compare equal too.
fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').map(|t| t.trim().trim_start_matches("W/")).any(|t| t == etag || t == "*"))
}

/// Does the request name, in the epoch header, another epoch than `epoch`?
fn foreign_epoch(headers: &HeaderMap, epoch: &str) -> bool {
    headers.get(EPOCH_HEADER).and_then(|v| v.to_str().ok()).is_some_and(|theirs| theirs != epoch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn a_client_holds_the_seq_its_validators_name_in_this_epoch_only() {
        assert!(holds(&headers(&[("if-none-match", "\"7\"")]), 7, "e1"));
        assert!(holds(&headers(&[("if-none-match", "W/\"3\", \"7\"")]), 7, "e1"), "a list, weak or strong");
        assert!(holds(&headers(&[("if-none-match", "*")]), 7, "e1"));
        assert!(!holds(&headers(&[("if-none-match", "\"6\"")]), 7, "e1"));
        assert!(!holds(&headers(&[]), 7, "e1"), "no validator holds nothing");
        assert!(holds(&headers(&[("if-none-match", "\"7\""), (EPOCH_HEADER, "e1")]), 7, "e1"));
        assert!(
            !holds(&headers(&[("if-none-match", "\"7\""), (EPOCH_HEADER, "e0")]), 7, "e1"),
            "another epoch's seq 7"
        );
    }
}
