//! A replica's local fan-out: one `broadcast` channel per board, created on first subscribe
//! and removed when its last [`Subscription`] is dropped, so a board nobody follows costs
//! nothing here. The [`Relay`](super::relay::Relay) hands it every notice for this
//! replica's subscribers, its own changes and those the bus brings from the others alike.
//!
//! Every notice passes [`Fanout::deliver`], so that is where its [`NoticeFilter`] acts (the
//! fault lab's, with `FAULTS=1`): it may drop a change notice, or hold it back in the delay
//! line (`DelayLine`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::{broadcast, mpsc};
use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::{Notice, NoticeFilter, PassAll, CHANNEL_CAPACITY};

type Channels = Arc<Mutex<HashMap<String, broadcast::Sender<Notice>>>>;

pub struct Fanout {
    /// One channel per board with subscribers here; shared with each [`Subscription`],
    /// which removes its board's channel when it is the last to leave.
    boards: Channels,
    /// What may drop or delay change notices on their way to the subscribers here (the
    /// replica's fault lab); by default, nothing does.
    filter: Arc<dyn NoticeFilter>,
    /// The notices the filter holds back, in order; started the first time one is delayed.
    line: OnceLock<DelayLine>,
}

impl Default for Fanout {
    fn default() -> Self {
        Fanout::with_filter(Arc::new(PassAll))
    }
}

/// One subscriber's end of a board's channel on this replica. Dropping it leaves the
/// board; the last one to leave removes the board's channel.
pub struct Subscription {
    /// `None` only while dropping: the receiver must be gone before the count is read.
    receiver: Option<broadcast::Receiver<Notice>>,
    board: String,
    boards: Channels,
}

impl Subscription {
    /// The next notice; `Lagged` when this subscriber fell more than the channel's capacity
    /// behind (it repairs from the log).
    pub async fn recv(&mut self) -> Result<Notice, broadcast::error::RecvError> {
        let notice = self.receiver.as_mut().expect("a live subscription has its receiver").recv().await;
        if let Ok(Notice::Change(change)) = &notice {
            if let Some(traced) = &change.traced {
                traced.taken();
            }
        }
        notice
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        // What it was handed and never took counts as taken: a traced change's fan-out batch
        // ends with its last subscriber, and one that left is not coming back for it.
        if let Some(receiver) = self.receiver.as_mut() {
            loop {
                match receiver.try_recv() {
                    Ok(Notice::Change(change)) => {
                        if let Some(traced) = &change.traced {
                            traced.taken();
                        }
                    }
                    Ok(Notice::Head(_)) | Err(broadcast::error::TryRecvError::Lagged(_)) => {}
                    Err(_) => break,
                }
            }
        }
        drop(self.receiver.take());
        // Under the lock, so a subscriber joining now either counts here or makes a new channel.
        let mut boards = self.boards.lock().expect("fan-out lock");
        if boards.get(&self.board).is_some_and(|sender| sender.receiver_count() == 0) {
            boards.remove(&self.board);
        }
    }
}

/// The delay line: one task and one FIFO queue per fan-out. A delayed notice waits
/// here until it is due; while the line holds any notice, every new one (delayed or not, a
/// head too) joins it behind the others, so that no notice overtakes another, whatever
/// the delay did meanwhile (turned down, or off).
struct DelayLine {
    queue: mpsc::UnboundedSender<Held>,
    /// Notices in the line not yet delivered. Changed only under the `boards` lock, with
    /// the decision to join the line or to send at once, so that the two cannot race.
    holding: Arc<AtomicUsize>,
    task: AbortHandle,
}

/// A notice in the delay line, and when it is due.
struct Held {
    due: Instant,
    board: String,
    notice: Notice,
}

impl DelayLine {
    /// Starts the line's task (on the runtime of the first delayed notice); it ends with
    /// the fan-out.
    fn start(boards: Channels) -> Self {
        let (queue, mut held) = mpsc::unbounded_channel::<Held>();
        let holding = Arc::new(AtomicUsize::new(0));
        let counted = holding.clone();
        let task = tokio::spawn(async move {
            while let Some(Held { due, board, notice }) = held.recv().await {
                tokio::time::sleep_until(due).await;
                let mut boards = boards.lock().expect("fan-out lock");
                send(&mut boards, &board, notice);
                counted.fetch_sub(1, Ordering::SeqCst);
            }
        });
        DelayLine { queue, holding, task: task.abort_handle() }
    }
}

impl Drop for DelayLine {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Hands a notice to a board's channel, if it has one here.
fn send(boards: &mut HashMap<String, broadcast::Sender<Notice>>, board: &str, notice: Notice) {
    // A traced change's fan-out batch counts whom it was handed to (see `Subscription::recv`).
    let traced = match &notice {
        Notice::Change(change) if change.traced.is_some() => Some(change.clone()),
        _ => None,
    };
    let handed = match boards.get(board).map(|sender| sender.send(notice)) {
        Some(Ok(subscribers)) => subscribers,
        Some(Err(_)) => {
            // Nobody listens to this board any more: forget its channel.
            boards.remove(board);
            0
        }
        None => 0,
    };
    if let Some(traced) = traced.as_ref().and_then(|change| change.traced.as_ref()) {
        traced.handed(handed);
    }
}

/// A traced change that reaches no subscriber here (none follows its board, or the lab
/// dropped it): its fan-out batch ends empty.
fn handed_to_none(notice: &Notice) {
    if let Notice::Change(change) = notice {
        if let Some(traced) = &change.traced {
            traced.handed(0);
        }
    }
}

impl Fanout {
    /// A fan-out whose change notices pass `filter` (the replica's fault lab).
    pub fn with_filter(filter: Arc<dyn NoticeFilter>) -> Self {
        Fanout { boards: Channels::default(), filter, line: OnceLock::new() }
    }

    /// Hands a notice to this replica's subscribers of `board`: at once, unless the filter
    /// drops it or holds it back (only a board with subscribers here has anything to lose,
    /// so only its notices are asked about: a lab's drops are not used up elsewhere).
    pub fn deliver(&self, board: &str, notice: Notice) {
        let mut boards = self.boards.lock().expect("fan-out lock");
        if !boards.contains_key(board) {
            handed_to_none(&notice);
            return;
        }
        // A head is never dropped, nor given a delay of its own: it is how subscribers repair.
        let delay = match &notice {
            Notice::Change(change) => match self.filter.pass(board, change.seq()) {
                Some(delay) => delay,
                None => {
                    handed_to_none(&notice);
                    return;
                }
            },
            Notice::Head(_) => std::time::Duration::ZERO,
        };
        let waiting = self.line.get().is_some_and(|line| line.holding.load(Ordering::SeqCst) > 0);
        if delay.is_zero() && !waiting {
            send(&mut boards, board, notice);
            return;
        }
        let line = self.line.get_or_init(|| DelayLine::start(self.boards.clone()));
        line.holding.fetch_add(1, Ordering::SeqCst);
        let held = Held { due: Instant::now() + delay, board: board.to_owned(), notice };
        if line.queue.send(held).is_err() {
            // The line's task is gone (its runtime shut down): the notice is lost, as any
            // notice may be.
            line.holding.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// The boards that have subscribers on this replica.
    pub fn boards(&self) -> Vec<String> {
        let mut boards = self.boards.lock().expect("fan-out lock");
        boards.retain(|_, sender| sender.receiver_count() > 0);
        boards.keys().cloned().collect()
    }

    /// Follows one board here: every notice delivered after this returns reaches the
    /// subscription (unless the filter drops it), until it is dropped.
    pub fn subscribe(&self, board: &str) -> Subscription {
        let mut boards = self.boards.lock().expect("fan-out lock");
        let receiver =
            boards.entry(board.to_owned()).or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0).subscribe();
        Subscription { receiver: Some(receiver), board: board.to_owned(), boards: self.boards.clone() }
    }

    /// How many boards have a channel here.
    pub fn channels(&self) -> usize {
        self.boards.lock().expect("fan-out lock").len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use board_core::domain::{execute, BoardState, Command};
    use board_core::patterns::ChangeRecord;

    use super::*;
    use crate::live::LiveChange;

    /// A filter the test sets: the next `drops` change notices are dropped, the rest
    /// delayed by `delay_ms`. (The fault lab's own rules are `lab.rs`'s to test.)
    #[derive(Default)]
    struct Scripted(Mutex<(u32, u64)>);

    impl Scripted {
        fn set(&self, drops: u32, delay_ms: u64) {
            *self.0.lock().unwrap() = (drops, delay_ms);
        }

        fn drops_left(&self) -> u32 {
            self.0.lock().unwrap().0
        }
    }

    impl NoticeFilter for Scripted {
        fn pass(&self, _board: &str, _seq: u64) -> Option<Duration> {
            let mut script = self.0.lock().unwrap();
            if script.0 > 0 {
                script.0 -= 1;
                return None;
            }
            Some(Duration::from_millis(script.1))
        }
    }

    fn change(seq: u64) -> Notice {
        let mut before = BoardState::empty("b", "B");
        before.seq = seq - 1;
        let done = execute(&before, &Command::AddTodo { title: format!("t{seq}"), sprint_id: None }).unwrap();
        Notice::Change(Arc::new(LiveChange::with_snapshot("b".into(), ChangeRecord::new(&done, 0), None)))
    }

    /// The next notice, as a seq (a head as its seq too), and when it came.
    async fn next(subscription: &mut Subscription) -> (u64, Instant) {
        let notice = tokio::time::timeout(Duration::from_secs(120), subscription.recv()).await.unwrap().unwrap();
        let seq = match notice {
            Notice::Change(change) => change.seq(),
            Notice::Head(head) => head,
        };
        (seq, Instant::now())
    }

    /// `at` is `ms` milliseconds after `start` (the paused clock's timers tick in whole
    /// milliseconds, so one more may pass).
    fn after(start: Instant, at: Instant, ms: u64) -> bool {
        let elapsed = at - start;
        elapsed >= Duration::from_millis(ms) && elapsed <= Duration::from_millis(ms + 1)
    }

    #[tokio::test(start_paused = true)]
    async fn delayed_notices_keep_their_order_and_nothing_overtakes_them() {
        let filter = Arc::new(Scripted::default());
        let fanout = Fanout::with_filter(filter.clone());
        let mut rx = fanout.subscribe("b");
        let start = Instant::now();

        filter.set(0, 300);
        fanout.deliver("b", change(1));
        tokio::time::sleep(Duration::from_millis(100)).await;
        fanout.deliver("b", change(2));
        // Turned off while two wait: the next ones still queue behind them, a head too.
        filter.set(0, 0);
        fanout.deliver("b", change(3));
        fanout.deliver("b", Notice::Head(3));

        let (seq, at) = next(&mut rx).await;
        assert!(seq == 1 && after(start, at, 300), "1 came {:?} after", at - start);
        let (seq, at) = next(&mut rx).await;
        assert!(seq == 2 && after(start, at, 400), "2 came {:?} after", at - start);
        assert_eq!(next(&mut rx).await, (3, at), "not delayed itself, but behind the delayed");
        assert_eq!(next(&mut rx).await, (3, at), "the head, last");

        // The line is empty again: notices go straight through.
        tokio::task::yield_now().await;
        fanout.deliver("b", change(4));
        assert_eq!(next(&mut rx).await, (4, at));
    }

    #[tokio::test]
    async fn dropped_notices_are_changes_on_followed_boards_never_heads() {
        let filter = Arc::new(Scripted::default());
        let fanout = Fanout::with_filter(filter.clone());
        filter.set(2, 0);
        // Nobody follows `b` yet: nothing to lose, no drop used up.
        fanout.deliver("b", change(1));
        let mut rx = fanout.subscribe("b");
        fanout.deliver("b", change(2));
        fanout.deliver("b", Notice::Head(2));
        fanout.deliver("b", change(3));
        fanout.deliver("b", change(4));
        assert_eq!(next(&mut rx).await.0, 2, "the head passes");
        assert_eq!(next(&mut rx).await.0, 4, "changes 2 and 3 were dropped");
        assert_eq!(filter.drops_left(), 0);
    }
}
