//! The wire inspector's data: what this client received, so a person can see how the
//! patterns differ (frame kinds, sizes, latency from commit to receipt).

use std::collections::VecDeque;

/// How many recent frames the inspector keeps.
pub const RECENT: usize = 25;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct WireLog {
    pub recent: VecDeque<WireEntry>,
    pub frames: u64,
    pub bytes: u64,
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
}

impl WireLog {
    pub fn record(&mut self, entry: WireEntry) {
        self.frames += 1;
        self.bytes += entry.bytes as u64;
        if self.recent.len() == RECENT {
            self.recent.pop_back();
        }
        self.recent.push_front(entry);
    }
}
