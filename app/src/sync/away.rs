//! "You missed N changes": how many changes by others reached the board while this page
//! was away (its tab in the background, its connection lost, or the page reloaded), and
//! from which seq, so the person can step through them (the time-travel view).
//!
//! Away begins when the tab is hidden or the connection is lost, at the seq the page had.
//! It ends once the page is visible, connected, and has applied everything up to the head
//! the server named on its return (a `hello`, a heartbeat, a poll's answer): counting
//! stops there, so changes that arrive live afterwards, seen as they happen, are not
//! counted as missed. The engine keeps one and tells it what happens; this module is pure.

/// The changes a page missed: by others, with seqs in `from + 1 ..= to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Missed {
    /// The seq the page had when it went away.
    pub from: u64,
    /// The head it caught up to.
    pub to: u64,
    /// How many of the changes in between were other people's.
    pub count: u64,
}

#[derive(Debug, Default)]
pub struct Away {
    gone: Option<Gone>,
    /// The tab is in the background: whatever it applies, nobody sees.
    hidden: bool,
}

#[derive(Debug)]
struct Gone {
    had: u64,
    count: u64,
    /// The head named since the page came back: away ends once it is applied.
    until: Option<u64>,
}

impl Away {
    /// The tab went to the background at seq `seq`.
    pub fn hidden(&mut self, seq: u64) {
        self.hidden = true;
        self.start(seq);
    }

    /// The tab is in front again, at seq `seq`; `live`: its connection is up, so what it
    /// holds is the board as of now (otherwise the reconnect's head ends it).
    pub fn shown(&mut self, seq: u64, live: bool) -> Option<Missed> {
        self.hidden = false;
        if live {
            return self.at_head(seq, seq);
        }
        None
    }

    /// The connection was lost (or the browser went offline) at seq `seq`.
    pub fn lost(&mut self, seq: u64) {
        self.start(seq);
    }

    /// The server named `head` as the board's head while the page holds `seq`.
    pub fn at_head(&mut self, head: u64, seq: u64) -> Option<Missed> {
        if self.hidden {
            return None;
        }
        let gone = self.gone.as_mut()?;
        gone.until = Some(gone.until.map_or(head, |until| until.max(head)));
        self.finish_at(seq)
    }

    /// The page applied seqs `before + 1 ..= after`, `ours` of them this tab's own.
    pub fn applied(&mut self, before: u64, after: u64, ours: u64) -> Option<Missed> {
        let gone = self.gone.as_mut()?;
        // Past the head named on return, changes are seen live: not missed.
        let upto = gone.until.map_or(after, |until| after.min(until));
        gone.count += upto.saturating_sub(before).saturating_sub(ours);
        self.finish_at(after)
    }

    fn start(&mut self, seq: u64) {
        match &mut self.gone {
            None => self.gone = Some(Gone { had: seq, count: 0, until: None }),
            // Away again before it had caught up: the return's head no longer holds.
            Some(gone) => gone.until = None,
        }
    }

    /// Ends away if the page, visible, holds the head named on return.
    fn finish_at(&mut self, seq: u64) -> Option<Missed> {
        let gone = self.gone.as_ref()?;
        let until = gone.until?;
        if self.hidden || seq < until {
            return None;
        }
        let gone = self.gone.take()?;
        (gone.count > 0).then_some(Missed { from: gone.had, to: until, count: gone.count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_while_the_connection_was_down_are_counted_up_to_the_head_named_on_return() {
        let mut away = Away::default();
        away.lost(10);
        // Back: hello says head 13; catch-up brings 11..=13, one of them this tab's own.
        assert_eq!(away.at_head(13, 10), None);
        assert_eq!(away.applied(10, 12, 1), None);
        assert_eq!(away.applied(12, 13, 0), Some(Missed { from: 10, to: 13, count: 2 }));
        // Live changes afterwards are seen as they happen.
        assert_eq!(away.applied(13, 14, 0), None);
    }

    #[test]
    fn a_background_tab_counts_what_it_applied_unseen() {
        let mut away = Away::default();
        away.hidden(5);
        assert_eq!(away.applied(5, 8, 0), None);
        // Heartbeats in the background end nothing.
        assert_eq!(away.at_head(8, 8), None);
        assert_eq!(away.shown(8, true), Some(Missed { from: 5, to: 8, count: 3 }));
        assert_eq!(away.shown(8, true), None, "once");
    }

    #[test]
    fn nothing_missed_says_nothing() {
        let mut away = Away::default();
        away.hidden(5);
        assert_eq!(away.shown(5, true), None);
        away.lost(5);
        assert_eq!(away.at_head(5, 5), None);
        assert_eq!(away.applied(5, 6, 0), None, "away ended at the head");
    }

    #[test]
    fn shown_while_disconnected_waits_for_the_reconnect() {
        let mut away = Away::default();
        away.hidden(5);
        away.lost(5);
        assert_eq!(away.shown(5, false), None);
        assert_eq!(away.at_head(7, 5), None);
        assert_eq!(away.applied(5, 7, 0), Some(Missed { from: 5, to: 7, count: 2 }));
    }
}
