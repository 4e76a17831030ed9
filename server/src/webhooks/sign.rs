//! Standard Webhooks signatures (<https://www.standardwebhooks.com>), through the
//! `standardwebhooks` crate: `webhook-id`, `webhook-timestamp` and `webhook-signature`
//! (`v1,` + base64 HMAC-SHA256 over `id.timestamp.body` keyed with the secret's bytes).
//!
//! The secret is shown once, as `whsec_` + base64 of 32 random bytes, and stored as its
//! base64 so that the server can sign (a hash could only verify). While a rotation's grace
//! period lasts, the previous secret signs too: the header carries both signatures, so a
//! receiver holding either accepts.

use base64::Engine;
use rand::RngCore;
use standardwebhooks::Webhook;

/// What a secret looks like when shown.
pub const SECRET_PREFIX: &str = "whsec_";

/// A fresh secret: (what is stored, what is shown once).
pub fn new_secret() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let stored = base64::engine::general_purpose::STANDARD.encode(bytes);
    let shown = format!("{SECRET_PREFIX}{stored}");
    (stored, shown)
}

/// The `webhook-id` of a delivery: the same for the same board, webhook and seq, so a
/// receiver that gets a change twice (a retry, a takeover, a replay) can drop the repeat.
pub fn message_id(board: &str, webhook: &str, seq: u64) -> String {
    format!("msg_{board}_{webhook}_{seq}")
}

/// The `webhook-signature` header for `body` sent as `id` at `timestamp` (Unix seconds):
/// one `v1,...` signature per secret, space-separated.
pub fn signature(secrets: &[&str], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .filter_map(|secret| Webhook::new(secret).ok()?.sign(id, timestamp, body).ok())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_with_the_shown_secret_and_only_with_it() {
        let (stored, shown) = new_secret();
        assert!(shown.starts_with(SECRET_PREFIX) && shown.ends_with(&stored));
        let (id, body) = (message_id("b", "w", 7), br#"{"board":"b","frame":{}}"#);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        let header = signature(&[&stored], &id, now, body);
        let mut headers = http::HeaderMap::new();
        headers.insert("webhook-id", id.parse().unwrap());
        headers.insert("webhook-timestamp", now.to_string().parse().unwrap());
        headers.insert("webhook-signature", header.parse().unwrap());
        assert!(Webhook::new(&shown).unwrap().verify(body, &headers).is_ok());
        assert!(Webhook::new(&new_secret().1).unwrap().verify(body, &headers).is_err());
        assert!(Webhook::new(&shown).unwrap().verify(b"tampered", &headers).is_err());
    }

    #[test]
    fn during_a_rotation_both_secrets_sign() {
        let (old, new) = (new_secret(), new_secret());
        let header = signature(&[&new.0, &old.0], "msg", 1, b"{}");
        assert_eq!(header.split(' ').count(), 2);
        assert!(header.split(' ').all(|s| s.starts_with("v1,")));
    }
}
