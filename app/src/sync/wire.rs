//! The wire inspector's data: what this client received, so a person can see how the
//! patterns differ (frame kinds, sizes, latency from commit to receipt); and the timeline
//! of faults and recoveries, so a person who breaks the connection on purpose (the fault
//! lab) sees each step that made sure nothing was lost.

use std::collections::VecDeque;

/// How many recent frames the inspector keeps.
pub const RECENT: usize = 25;
/// How many faults and recovery steps the timeline keeps.
pub const NOTES: usize = 40;

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
    /// Faults injected and the steps the engine took to recover, newest first.
    pub notes: VecDeque<Note>,
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
