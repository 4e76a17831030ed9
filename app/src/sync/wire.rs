//! The wire inspector's data: what this client received, so a person can see how the
//! patterns differ (frame kinds, sizes, latency from commit to receipt).

use std::collections::VecDeque;

/// How many recent frames the inspector keeps.
pub const RECENT: usize = 25;

/// The log keeps the two kinds of state apart, as the protocol does: the change log's
/// frames (and the stream's control frames), and ephemeral ones (presence, signals,
/// relayed cursors), which would otherwise crowd the changes out of view and into the
/// pattern's byte count.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WireLog {
    pub recent: VecDeque<WireEntry>,
    pub frames: u64,
    pub bytes: u64,
    /// The most recent ephemeral frames.
    pub ephemeral: VecDeque<WireEntry>,
    pub ephemeral_frames: u64,
    pub ephemeral_bytes: u64,
    /// HTTP requests made besides the stream: pulls, backfills, commands.
    pub requests: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct WireEntry {
    pub kind: &'static str,
    pub seq: Option<u64>,
    pub bytes: usize,
    /// Commit to receipt, for data frames (clocks of server and browser may differ a little).
    pub latency_ms: Option<i64>,
    /// What the frame said in words (the event, for patterns that carry one).
    pub summary: String,
    /// Presence, a signal or a cursor: not part of the change log.
    pub ephemeral: bool,
}

impl WireLog {
    pub fn record(&mut self, entry: WireEntry) {
        let (frames, bytes, recent) = match entry.ephemeral {
            true => (&mut self.ephemeral_frames, &mut self.ephemeral_bytes, &mut self.ephemeral),
            false => (&mut self.frames, &mut self.bytes, &mut self.recent),
        };
        *frames += 1;
        *bytes += entry.bytes as u64;
        if recent.len() == RECENT {
            recent.pop_back();
        }
        recent.push_front(entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: &'static str, bytes: usize, ephemeral: bool) -> WireEntry {
        WireEntry { kind, seq: None, bytes, latency_ms: None, summary: String::new(), ephemeral }
    }

    #[test]
    fn ephemeral_frames_are_counted_and_listed_apart() {
        let mut log = WireLog::default();
        log.record(entry("ops", 100, false));
        for _ in 0..RECENT + 5 {
            log.record(entry("cursor", 40, true));
        }
        assert_eq!((log.frames, log.bytes), (1, 100), "cursors do not count as changes");
        assert_eq!(log.recent.len(), 1, "nor push them out of view");
        assert_eq!((log.ephemeral_frames, log.ephemeral.len()), (RECENT as u64 + 5, RECENT));
    }
}
