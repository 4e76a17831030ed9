//! This tab's side of tracing: the `traceparent` its commands carry when the person traces
//! the tab, and the traced changes it received, with when each arrived and was applied
//! (the waterfall's last two hops, which it also reports to the server).
//!
//! A command's trace id is its Idempotency-Key (32 hex digits, random and counted: see
//! `engine::send`), so every resend of a command, from any tab of the browser, continues
//! one trace, and a tab knows the trace of its own change without keeping anything. The
//! span id is the key's second half (never zero: it ends with the tab's command count).

use std::collections::VecDeque;

/// How many traced changes the inspector lists.
pub const SEEN: usize = 20;

/// The W3C `traceparent` of the command with `key`: sampled when the tab is traced. `None`
/// for a key that is not 32 lowercase hex digits (none this page makes).
pub fn traceparent(key: &str) -> Option<String> {
    let hex = key.len() == 32 && key.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let zero = |part: &str| part.bytes().all(|b| b == b'0');
    (hex && !zero(key) && !zero(&key[16..])).then(|| format!("00-{key}-{}-01", &key[16..]))
}

/// A traced change this tab applied.
#[derive(Clone, Debug, PartialEq)]
pub struct Seen {
    pub trace: String,
    pub seq: u64,
    /// Unix ms, this tab's clock: the frame arrived, and the board showed it.
    pub received: f64,
    pub applied: f64,
    /// Made by this browser (its command was in the outbox when the frame came).
    pub mine: bool,
    /// The replica whose stream brought it, and how.
    pub replica: String,
    pub via: String,
}

/// The newest traced changes, newest first, at most [`SEEN`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Traces(VecDeque<Seen>);

impl Traces {
    pub fn push(&mut self, seen: Seen) {
        self.0.retain(|s| s.trace != seen.trace);
        self.0.push_front(seen);
        self.0.truncate(SEEN);
    }

    pub fn iter(&self) -> impl Iterator<Item = &Seen> {
        self.0.iter()
    }

    pub fn get(&self, trace: &str) -> Option<&Seen> {
        self.0.iter().find(|s| s.trace == trace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commands_traceparent_is_named_by_its_key() {
        let key = "4bf92f3577b34da600f067aa00000003";
        assert_eq!(traceparent(key).as_deref(), Some("00-4bf92f3577b34da600f067aa00000003-00f067aa00000003-01"));
        assert_eq!(traceparent("not-a-key"), None);
        assert_eq!(traceparent(&"0".repeat(32)), None);
        assert_eq!(traceparent("4bf92f3577b34da60000000000000000"), None, "a span id is never zero");
        assert_eq!(traceparent("4BF92F3577B34DA600F067AA00000003"), None);
    }

    #[test]
    fn the_list_keeps_the_newest_once_each() {
        let mut traces = Traces::default();
        let seen = |n: u64| Seen {
            trace: format!("{n:032x}"),
            seq: n,
            received: 0.0,
            applied: 0.0,
            mine: false,
            replica: "r".into(),
            via: "sse".into(),
        };
        for n in 0..30 {
            traces.push(seen(n));
        }
        traces.push(seen(29));
        assert_eq!(traces.iter().count(), SEEN);
        assert_eq!(traces.iter().next().unwrap().seq, 29);
        assert!(traces.get(&format!("{:032x}", 5)).is_none());
    }
}
