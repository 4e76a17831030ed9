//! Time travel: the board as it was at an earlier seq, for the page's history slider and
//! "you missed N changes".
//!
//! The server answers `GET /history?at=N&then=M` with the board at seq N (its newest
//! snapshot below N plus the events after it, replayed by the shared reducer) and the M
//! changes after N. The page keeps that answer as a [`Window`] and shows any seq inside it
//! by replaying the window's events here, through the same reducer: dragging the slider
//! across a window costs no request, and one request brings the next window. The live
//! board (`BoardClient::state`) keeps following meanwhile; the page shows the past only
//! while [`BoardClient::past`](super::BoardClient) is set.

use std::collections::BTreeSet;
use std::sync::Arc;

use board_core::api::{HistoryEntry, HistoryPage};
use board_core::domain::diff::EntityDiff;
use board_core::domain::{evolve::evolve, BoardState, Id};

/// Changes one window carries after its first seq: about 60 KB of events on a board of
/// short titles, besides the board itself.
pub const WINDOW: u64 = 200;

/// The board at one past seq, as the page shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct PastView {
    pub seq: u64,
    pub state: Arc<BoardState>,
    /// The change at `seq` (none at seq 0): described under the slider, its todos marked.
    pub change: Option<HistoryEntry>,
    /// The todos that change created or changed: found once per view, which every card
    /// on the page asks whether it is one of.
    pub touched: BTreeSet<Id>,
}

impl PastView {
    fn new(seq: u64, state: Arc<BoardState>, change: Option<HistoryEntry>) -> PastView {
        let touched = change.as_ref().map_or_else(BTreeSet::new, |change| {
            change
                .diff
                .todos
                .iter()
                .filter_map(|d| match d {
                    EntityDiff::Created { id, .. } | EntityDiff::Updated { id, .. } => Some(*id),
                    EntityDiff::Deleted { .. } => None,
                })
                .collect()
        });
        PastView { seq, state, change, touched }
    }
}

/// One answer of `/history`: the board at its first seq and the changes after it.
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    pub floor: u64,
    pub head: u64,
    base: Arc<BoardState>,
    base_change: Option<HistoryEntry>,
    then: Vec<HistoryEntry>,
}

impl Window {
    pub fn new(page: HistoryPage) -> Window {
        Window {
            floor: page.floor,
            head: page.head,
            base: Arc::new(page.state),
            base_change: page.change,
            then: page.then,
        }
    }

    /// Can this window show seq `seq` without asking the server?
    pub fn covers(&self, seq: u64) -> bool {
        let first = self.base.seq;
        seq >= first && seq <= first + self.then.len() as u64
    }

    /// The board at `seq` (which the window covers): the window's board with its events up
    /// to `seq` replayed.
    pub fn at(&self, seq: u64) -> Option<PastView> {
        if !self.covers(seq) {
            return None;
        }
        let steps = (seq - self.base.seq) as usize;
        if steps == 0 {
            return Some(PastView::new(seq, self.base.clone(), self.base_change.clone()));
        }
        let mut state = (*self.base).clone();
        for change in &self.then[..steps] {
            evolve(&mut state, &change.event);
        }
        Some(PastView::new(seq, Arc::new(state), Some(self.then[steps - 1].clone())))
    }

    /// Where to ask for a window that shows `seq`: centred on it, so that stepping either
    /// way stays inside, and never below `floor`.
    pub fn around(seq: u64, floor: u64) -> u64 {
        seq.saturating_sub(WINDOW / 2).max(floor).min(seq)
    }
}

/// What the page's history view holds between requests: the last window, and the seq the
/// person last asked for (a window that arrives for an older ask is kept, not shown).
#[derive(Debug, Default)]
pub struct Travel {
    pub window: Option<Window>,
    pub wanted: Option<u64>,
    /// Why the slider stops where it does, once the server said (`410`).
    pub stop: Option<String>,
}

/// Shows the board at `seq` (`None`, or the live head: the live board again). From the
/// window the page holds when it covers `seq`; otherwise a new window is fetched, after a
/// short pause so that a slider dragged across a thousand seqs asks once where it stops.
#[cfg(feature = "hydrate")]
pub fn travel(client: super::BoardClient, seq: Option<u64>) {
    use leptos::prelude::*;
    /// How long the slider must rest before a window is fetched.
    const SETTLE_MS: u32 = 120;
    let head = client.state.with_untracked(|s| s.seq);
    let Some(seq) = seq.filter(|seq| *seq < head) else {
        client.travel.update_value(|t| t.wanted = None);
        client.past.set(None);
        return;
    };
    let floor = client.history_floor.get_untracked();
    let seq = seq.max(floor);
    client.travel.update_value(|t| t.wanted = Some(seq));
    if let Some(view) = client.travel.with_value(|t| t.window.as_ref().and_then(|w| w.at(seq))) {
        client.past.set(Some(view));
        return;
    }
    leptos::task::spawn_local(async move {
        gloo_timers::future::TimeoutFuture::new(SETTLE_MS).await;
        if client.travel.try_with_value(|t| t.wanted) != Some(Some(seq)) {
            return; // The slider moved on; its own request will follow.
        }
        let board = client.board_id();
        let super::platform::Metered { answer, cost } =
            super::http::history(&board, Window::around(seq, floor), WINDOW).await;
        if let Some(cost) = cost {
            let at = js_sys::Date::now() as i64;
            client.wire.update(|w| w.exchange(at, cost));
        }
        match answer {
            Ok(Ok(page)) => {
                let window = Window::new(page);
                client.history_floor.set(window.floor);
                let wanted = client.travel.with_value(|t| t.wanted);
                let view = wanted.and_then(|w| window.at(w));
                client.travel.update_value(|t| t.window = Some(window));
                if let Some(view) = view {
                    client.past.set(Some(view));
                }
            }
            // Below what history reaches: the slider stops at its floor and says why.
            Ok(Err(before)) => {
                client.history_floor.set(before.floor);
                client.travel.update_value(|t| t.stop = Some(before.error));
                travel(client, Some(before.floor));
            }
            Err(err) => client.notice.set(Some(format!("history is not available: {}", err.message()))),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use board_core::domain::{execute, Command};
    use board_core::patterns::ChangeRecord;

    /// A board of `n` adds, and the history page the server would answer at `at`.
    fn page(n: u64, at: u64, then: u64) -> (Vec<BoardState>, HistoryPage) {
        let mut states = vec![BoardState::empty("b", "B")];
        let mut entries = Vec::new();
        for i in 0..n {
            let done =
                execute(states.last().unwrap(), &Command::AddTodo { title: format!("t{i}"), sprint_id: None }).unwrap();
            let record = ChangeRecord::new(&done, i as i64);
            entries.push(HistoryEntry {
                seq: record.seq,
                at: record.at,
                actor: None,
                event: record.event,
                diff: record.diff,
            });
            states.push(done.state);
        }
        let page = HistoryPage {
            at,
            floor: 0,
            head: n,
            epoch: "e".into(),
            state: states[at as usize].clone(),
            change: at.checked_sub(1).map(|i| entries[i as usize].clone()),
            then: entries[at as usize..(at + then).min(n) as usize].to_vec(),
        };
        (states, page)
    }

    #[test]
    fn a_window_shows_every_seq_it_covers_as_the_server_had_it() {
        let (states, page) = page(30, 10, 15);
        let window = Window::new(page);
        assert!(!window.covers(9) && !window.covers(26));
        for seq in 10..=25 {
            let view = window.at(seq).unwrap();
            assert_eq!(*view.state, states[seq as usize]);
            assert_eq!(view.change.map(|c| c.seq), Some(seq));
        }
        // The change at a seq marks the todo it made.
        assert_eq!(window.at(12).unwrap().touched, BTreeSet::from([12]));
    }

    #[test]
    fn windows_are_asked_for_around_the_seq_and_never_below_the_floor() {
        assert_eq!(Window::around(500, 0), 400);
        assert_eq!(Window::around(50, 0), 0);
        assert_eq!(Window::around(500, 450), 450);
    }
}
