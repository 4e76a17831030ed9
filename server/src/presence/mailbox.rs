//! One tab's mailbox on this replica: the signals and relayed cursors waiting for it. A
//! stream drains it as letters arrive; a poll client's next request takes what waits.
//!
//! Both kinds are ephemeral and bounded: signals queue (WebRTC needs each offer, answer
//! and candidate) up to [`MAX_SIGNALS`], and a tab takes in at most
//! [`SIGNAL_BYTES_PER_SECOND`] of them (in bursts of [`SIGNAL_BURST_BYTES`]), whoever sends
//! them: beyond either, new ones are dropped (the peers then fall back to the relay), so
//! fifty made-up tabs cannot pour hundreds of megabytes into one viewer. Cursors keep only
//! the latest position per sender, since an older one is worth nothing once a newer exists.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::Notify;
use tokio::time::Instant;

/// How many signals wait for one tab at most.
pub const MAX_SIGNALS: usize = 64;
/// The bytes of signals one tab takes in a second: a WebRTC negotiation with each of eight
/// peers is a few kilobytes each.
pub const SIGNAL_BYTES_PER_SECOND: usize = 64 * 1024;
/// ... and in a burst (the page's whole mesh negotiating at once).
pub const SIGNAL_BURST_BYTES: usize = 256 * 1024;

#[derive(Default)]
pub struct Mailbox {
    letters: Mutex<Letters>,
    /// The bytes of signals this tab may still take in now, refilled with time.
    budget: Mutex<Budget>,
    /// Wakes the stream that drains this box (a permit is kept if it is not waiting).
    arrived: Notify,
}

#[derive(Default)]
struct Letters {
    signals: VecDeque<Bytes>,
    /// Sender → its latest `cursor` frame.
    cursors: BTreeMap<String, Bytes>,
}

/// A token bucket of bytes.
struct Budget {
    bytes: f64,
    at: Instant,
}

impl Default for Budget {
    fn default() -> Self {
        Budget { bytes: SIGNAL_BURST_BYTES as f64, at: Instant::now() }
    }
}

impl Budget {
    /// Takes `n` bytes if there are that many now.
    fn take(&mut self, n: usize) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.at).as_secs_f64() * SIGNAL_BYTES_PER_SECOND as f64;
        self.bytes = (self.bytes + refill).min(SIGNAL_BURST_BYTES as f64);
        self.at = now;
        if self.bytes < n as f64 {
            return false;
        }
        self.bytes -= n as f64;
        true
    }
}

impl Mailbox {
    /// Queues a signal frame; `false` when the box is full, or the tab took in its bytes
    /// for now, and it was dropped.
    pub fn signal(&self, frame: Bytes) -> bool {
        if !self.budget.lock().expect("mailbox lock").take(frame.len()) {
            metrics::counter!("board_signals_dropped_total", "why" => "bytes").increment(1);
            return false;
        }
        let mut letters = self.letters.lock().expect("mailbox lock");
        if letters.signals.len() >= MAX_SIGNALS {
            metrics::counter!("board_signals_dropped_total", "why" => "full").increment(1);
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

    #[tokio::test(start_paused = true)]
    async fn a_tab_takes_in_a_bounded_number_of_signal_bytes_a_second() {
        let mailbox = Mailbox::default();
        let big = Bytes::from(vec![b'x'; 32 * 1024]);
        let mut taken = 0;
        for _ in 0..40 {
            if mailbox.signal(big.clone()) {
                taken += big.len();
            }
            mailbox.take();
        }
        assert_eq!(taken, SIGNAL_BURST_BYTES, "a burst, then nothing");
        tokio::time::advance(std::time::Duration::from_secs(1)).await;
        let mut later = 0;
        for _ in 0..40 {
            if mailbox.signal(big.clone()) {
                later += big.len();
            }
            mailbox.take();
        }
        assert_eq!(later, SIGNAL_BYTES_PER_SECOND, "a second's worth a second later");
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
