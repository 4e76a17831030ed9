//! One tab's mailbox on this replica: the signals and relayed cursors waiting for it. A
//! stream drains it as letters arrive; a poll client's next request takes what waits.
//!
//! Both kinds are ephemeral and bounded: signals queue (WebRTC needs each offer, answer
//! and candidate) up to [`MAX_SIGNALS`], after which new ones are dropped (the peers then
//! fall back to the relay); cursors keep only the latest position per sender, since an
//! older one is worth nothing once a newer exists.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::Notify;

/// How many signals wait for one tab at most.
pub const MAX_SIGNALS: usize = 64;

#[derive(Default)]
pub struct Mailbox {
    letters: Mutex<Letters>,
    /// Wakes the stream that drains this box (a permit is kept if it is not waiting).
    arrived: Notify,
}

#[derive(Default)]
struct Letters {
    signals: VecDeque<Bytes>,
    /// Sender → its latest `cursor` frame.
    cursors: BTreeMap<String, Bytes>,
}

impl Mailbox {
    /// Queues a signal frame; `false` when the box is full and it was dropped.
    pub fn signal(&self, frame: Bytes) -> bool {
        let mut letters = self.letters.lock().expect("mailbox lock");
        if letters.signals.len() >= MAX_SIGNALS {
            metrics::counter!("board_signals_dropped_total").increment(1);
            return false;
        }
        letters.signals.push_back(frame);
        drop(letters);
        self.arrived.notify_one();
        true
    }

    /// Replaces `from`'s waiting cursor, if any, with this one.
    pub fn cursor(&self, from: &str, frame: Bytes) {
        self.letters.lock().expect("mailbox lock").cursors.insert(from.to_owned(), frame);
        self.arrived.notify_one();
    }

    /// Everything waiting, signals first, in the order they came.
    pub fn take(&self) -> Vec<Bytes> {
        let mut letters = self.letters.lock().expect("mailbox lock");
        let cursors = std::mem::take(&mut letters.cursors);
        letters.signals.drain(..).chain(cursors.into_values()).collect()
    }

    pub fn is_empty(&self) -> bool {
        let letters = self.letters.lock().expect("mailbox lock");
        letters.signals.is_empty() && letters.cursors.is_empty()
    }

    /// Completes when something may have arrived since the last call.
    pub async fn arrived(&self) {
        self.arrived.notified().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_queue_and_cursors_keep_the_latest() {
        let mailbox = Mailbox::default();
        mailbox.cursor("a", Bytes::from_static(b"a1"));
        mailbox.signal(Bytes::from_static(b"s1"));
        mailbox.cursor("a", Bytes::from_static(b"a2"));
        mailbox.cursor("b", Bytes::from_static(b"b1"));
        mailbox.signal(Bytes::from_static(b"s2"));
        assert_eq!(mailbox.take(), ["s1", "s2", "a2", "b1"].map(|s| Bytes::from(s.as_bytes())));
        assert!(mailbox.is_empty());
    }

    #[test]
    fn a_full_box_drops_new_signals() {
        let mailbox = Mailbox::default();
        for _ in 0..MAX_SIGNALS {
            assert!(mailbox.signal(Bytes::from_static(b"s")));
        }
        assert!(!mailbox.signal(Bytes::from_static(b"one too many")));
        assert_eq!(mailbox.take().len(), MAX_SIGNALS);
    }
}
