//! The wire inspector's data: everything this client's sync traffic cost, so a person can
//! see how the patterns differ (frame kinds, sizes, latency from commit to receipt); and
//! the timeline of faults and recoveries, so a person who breaks the connection on purpose
//! (the fault lab) sees each step that made sure nothing was lost.
//!
//! What is counted is what crossed the network, once: each message of a stream (SSE, a
//! WebSocket, both ways) and each HTTP request of the sync engine with its answer (polls,
//! long-polls, pulls, snapshots, backfills, commands, signals), by the bytes of their
//! bodies as sent and received. Headers, the stream's own framing (`data:`, WebSocket
//! frame headers) and compression are not counted. Frames that came inside an HTTP answer
//! are listed too, with their own size, but their bytes are the answer's, counted once.

use std::collections::VecDeque;

/// How many recent rows the inspector keeps.
pub const RECENT: usize = 25;
/// How many faults and recovery steps the timeline keeps.
pub const NOTES: usize = 40;
/// How many latencies the percentiles are taken over (the most recent).
pub const LATENCIES: usize = 500;

/// The log keeps the two kinds of state apart, as the protocol does: the change log's
/// frames (and the stream's control frames), and ephemeral ones (presence, signals,
/// relayed cursors), which would otherwise crowd the changes out of view and into the
/// pattern's byte count.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WireLog {
    /// The most recent rows of the change log's side: frames, and the HTTP requests that
    /// carried or fetched them.
    pub recent: VecDeque<WireEntry>,
    /// Change-log and control frames received (also those inside HTTP answers).
    pub frames: u64,
    /// Bytes of the change log's traffic: its stream messages and every HTTP request of
    /// the engine with its answer (a poll's answer counts whole, presence frames in it too).
    pub bytes: u64,
    /// The most recent ephemeral frames.
    pub ephemeral: VecDeque<WireEntry>,
    pub ephemeral_frames: u64,
    /// Bytes of ephemeral stream messages and signal requests.
    pub ephemeral_bytes: u64,
    /// HTTP requests made: polls, long-polls, pulls, snapshots, backfills, commands, signals.
    pub requests: u64,
    /// Commit-to-apply latencies of changes, newest last (at most `LATENCIES`).
    pub latencies: VecDeque<i64>,
    /// Faults injected and the steps the engine took to recover, newest first.
    pub notes: VecDeque<Note>,
}

/// One HTTP request of the sync engine and its answer: what it was for, and its cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exchange {
    /// `poll`, `long-poll`, `pull`, `snapshot`, `backfill`, `command` or `signal`.
    pub kind: &'static str,
    /// The answer's status (`0`: no answer came).
    pub status: u16,
    /// Bytes of the request's body.
    pub sent: usize,
    /// Bytes of the answer's body, as received.
    pub received: usize,
}

/// One line of the timeline: a fault the lab injected, or a step the engine took because
/// something was missing or broken.
#[derive(Clone, Debug, PartialEq)]
pub struct Note {
    /// Unix milliseconds.
    pub at: i64,
    pub step: NoteStep,
    /// What happened, in words (seqs, counts, delays).
    pub text: String,
}

/// The kinds of line, each with a name the page marks (`data-step`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoteStep {
    // Faults (the lab injected them).
    /// Latency on frames and requests was set.
    Latency,
    /// A frame was dropped before the engine saw it.
    Drop,
    /// The connection was cut, and requests fail, for a while.
    Cut,
    /// The cut is over: the network is back.
    Restored,
    /// Frame processing paused.
    Pause,
    /// Frame processing resumed: what was held is handed over.
    Resume,
    // Recovery (the engine's own steps).
    /// A frame or heartbeat showed that changes are missing.
    Gap,
    /// The missing changes were read from the log.
    Backfill,
    /// The server could not catch us up (or the board is another incarnation): a fresh
    /// snapshot replaced the board.
    Reset,
    /// The connection failed, or a new one opens after a failure.
    Reconnect,
    /// A command goes again, with its original Idempotency-Key.
    Resend,
}

impl NoteStep {
    pub fn as_str(self) -> &'static str {
        match self {
            NoteStep::Latency => "latency",
            NoteStep::Drop => "drop",
            NoteStep::Cut => "cut",
            NoteStep::Restored => "restored",
            NoteStep::Pause => "pause",
            NoteStep::Resume => "resume",
            NoteStep::Gap => "gap",
            NoteStep::Backfill => "backfill",
            NoteStep::Reset => "reset",
            NoteStep::Reconnect => "reconnect",
            NoteStep::Resend => "resend",
        }
    }

    /// Injected by the lab (rather than a step of the engine's recovery)?
    pub fn is_fault(self) -> bool {
        matches!(
            self,
            NoteStep::Latency
                | NoteStep::Drop
                | NoteStep::Cut
                | NoteStep::Restored
                | NoteStep::Pause
                | NoteStep::Resume
        )
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct WireEntry {
    /// Unix ms when it arrived (or the request was answered).
    pub at: i64,
    /// A frame's kind, or an HTTP request's (`Exchange::kind`).
    pub kind: &'static str,
    pub seq: Option<u64>,
    pub bytes: usize,
    /// A frame that came inside an HTTP answer (or a backfill's page): listed, but its
    /// bytes are the answer's and counted there.
    pub carried: bool,
    /// An HTTP request rather than a frame.
    pub request: bool,
    /// Commit to receipt, for data frames (clocks of server and browser may differ a little).
    pub latency_ms: Option<i64>,
    /// What the frame said in words (the event, for patterns that carry one).
    pub summary: String,
    /// Presence, a signal or a cursor: not part of the change log.
    pub ephemeral: bool,
}

impl WireLog {
    pub fn record(&mut self, entry: WireEntry) {
        self.push(entry, true);
    }

    /// Lists `entry` (the newest `RECENT` rows are kept) and counts it: a request, or a
    /// frame when `frame`, and its bytes unless an answer already counted them.
    fn push(&mut self, entry: WireEntry, frame: bool) {
        let (frames, bytes, recent) = match entry.ephemeral {
            true => (&mut self.ephemeral_frames, &mut self.ephemeral_bytes, &mut self.ephemeral),
            false => (&mut self.frames, &mut self.bytes, &mut self.recent),
        };
        if entry.request {
            self.requests += 1;
        } else if frame {
            *frames += 1;
        }
        if !entry.carried {
            *bytes += entry.bytes as u64;
        }
        if recent.len() == RECENT {
            recent.pop_back();
        }
        recent.push_front(entry);
    }

    /// An HTTP request answered at `at` (Unix ms): a row of its own, counted whole.
    pub fn exchange(&mut self, at: i64, exchange: Exchange) {
        let summary = match exchange.status {
            0 => format!("no answer ({} bytes sent)", exchange.sent),
            status if exchange.sent > 0 => {
                format!("{status}, {} bytes sent, {} received", exchange.sent, exchange.received)
            }
            status => format!("{status}, {} bytes received", exchange.received),
        };
        self.record(WireEntry {
            at,
            kind: exchange.kind,
            seq: None,
            bytes: exchange.sent + exchange.received,
            carried: false,
            request: true,
            latency_ms: None,
            summary,
            ephemeral: exchange.kind == "signal",
        });
    }

    /// A message went up a stream (a command or signal up a WebSocket) at `at`.
    pub fn sent(&mut self, at: i64, bytes: usize, ephemeral: bool) {
        let what = if ephemeral { "a signal up the socket" } else { "a command up the socket" };
        let entry = WireEntry {
            at,
            kind: "sent",
            seq: None,
            bytes,
            carried: false,
            request: false,
            latency_ms: None,
            summary: what.into(),
            ephemeral,
        };
        // A row and its bytes, but not a frame received.
        self.push(entry, false);
    }

    /// A change was applied `ms` after its commit.
    pub fn latency(&mut self, ms: i64) {
        if self.latencies.len() == LATENCIES {
            self.latencies.pop_front();
        }
        self.latencies.push_back(ms);
    }

    /// Everything this client's sync traffic transferred, both ways (`data-wire-bytes`).
    pub fn total_bytes(&self) -> u64 {
        self.bytes + self.ephemeral_bytes
    }

    /// The `p`th percentile (0 to 100) of the recent latencies, nearest rank.
    pub fn latency_percentile(&self, p: u32) -> Option<i64> {
        let mut sorted: Vec<i64> = self.latencies.iter().copied().collect();
        sorted.sort_unstable();
        let rank = (p as usize * sorted.len()).div_ceil(100).max(1);
        sorted.get(rank - 1).copied()
    }

    /// Adds a line to the timeline (at `at`, Unix ms).
    pub fn note(&mut self, at: i64, step: NoteStep, text: impl Into<String>) {
        if self.notes.len() == NOTES {
            self.notes.pop_back();
        }
        self.notes.push_front(Note { at, step, text: text.into() });
    }
}

/// `HH:MM:SS.mmm` (UTC) of a Unix-millisecond time: the timeline's clock.
pub fn clock(at: i64) -> String {
    let ms = at.rem_euclid(86_400_000);
    format!("{:02}:{:02}:{:02}.{:03}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: &'static str, bytes: usize, ephemeral: bool) -> WireEntry {
        WireEntry {
            at: 0,
            kind,
            seq: None,
            bytes,
            carried: false,
            request: false,
            latency_ms: None,
            summary: String::new(),
            ephemeral,
        }
    }

    #[test]
    fn an_answer_counts_once_and_the_frames_it_carried_are_listed() {
        let mut log = WireLog::default();
        log.exchange(5, Exchange { kind: "poll", status: 200, sent: 0, received: 900 });
        for _ in 0..3 {
            log.record(WireEntry { carried: true, ..entry("ops", 250, false) });
        }
        log.exchange(6, Exchange { kind: "command", status: 200, sent: 60, received: 40 });
        log.record(entry("ops", 250, false));
        assert_eq!((log.requests, log.frames, log.bytes), (2, 4, 900 + 100 + 250));
        assert_eq!(log.recent.len(), 6, "every frame and request has a row");
        log.exchange(7, Exchange { kind: "signal", status: 200, sent: 80, received: 0 });
        assert_eq!((log.ephemeral_bytes, log.total_bytes()), (80, 1250 + 80));
    }

    #[test]
    fn latency_percentiles_take_the_nearest_rank() {
        let mut log = WireLog::default();
        assert_eq!(log.latency_percentile(50), None);
        for ms in (1..=100).rev() {
            log.latency(ms);
        }
        assert_eq!((log.latency_percentile(50), log.latency_percentile(95)), (Some(50), Some(95)));
        for _ in 0..LATENCIES {
            log.latency(7);
        }
        assert_eq!((log.latencies.len(), log.latency_percentile(95)), (LATENCIES, Some(7)), "the most recent only");
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

    #[test]
    fn the_timeline_keeps_the_newest_notes_first() {
        let mut log = WireLog::default();
        for i in 0..NOTES as i64 + 3 {
            log.note(i, NoteStep::Gap, format!("{i}"));
        }
        assert_eq!(log.notes.len(), NOTES);
        assert_eq!(log.notes.front().map(|n| n.at), Some(NOTES as i64 + 2));
        assert_eq!(clock(3_723_004), "01:02:03.004");
    }
}
