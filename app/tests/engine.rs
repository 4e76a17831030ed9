//! The browser's engine, run natively on a fake platform: a fake server (the domain's own
//! reducer and patterns, no network) and links the test drives by hand. Time is paused,
//! so backoff delays are exact and cost nothing.
//!
//! What a page relies on: a dropped connection is reopened after a backoff delay from the
//! seq it applied; a gap is filled from the log before later frames apply; switching
//! transport closes the old connection, ignores what it still reports, and resumes from
//! the applied seq; a command sent up a socket that dies is posted with the same key.
//! Behind the fault lab (as on a real page): lost frames are backfilled, a cut ends in a
//! reconnect and a resend, latency delays without reordering, a pause holds everything;
//! and the inspector's timeline lists each fault and each recovery step.

use std::any::Any;
use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use app::sync::connection::Connection;
use app::sync::lab::{Fault, Faulty};
use app::sync::platform::{
    Exchange, HttpError, Kept, Link, LinkEvent, LocalCopy, Metered, Opening, Outgoing, Platform, Report, Shared,
    Sharing,
};
use app::sync::wire::NoteStep;
use app::sync::{BoardClient, Conn};
use board_core::api::{CommandAnswer, FramesPage, Position};
use board_core::domain::undo::Step;
use board_core::domain::{execute, BoardState, Command, DomainError};
use board_core::optimistic::Outbox;
use board_core::patterns::{ChangeRecord, Frame, PatternKind};
use board_core::presence::{Cursor, Identity, Member, Signal};
use board_core::protocol::Transport;
use leptos::prelude::*;

/// The server side: every board state by seq and each change's record.
#[derive(Default)]
struct Server {
    states: Vec<BoardState>,
    records: Vec<ChangeRecord>,
}

impl Server {
    fn todos_len(&self) -> usize {
        self.states.last().map_or(0, |s| s.todos.len())
    }
}

/// One link the engine opened, as the test sees it.
struct Opened {
    transport: Transport,
    from: Position,
    report: Report,
    closed: Rc<RefCell<bool>>,
    /// Reported open (a WebSocket carries commands only then, as a real one).
    open: Rc<RefCell<bool>>,
    /// Commands sent up this link: `(Idempotency-Key, command)`.
    sent: Rc<RefCell<Vec<(String, Command)>>>,
    /// Signals sent up this link.
    signals: Rc<RefCell<Vec<Signal>>>,
    /// Who the engine said it is.
    me: Option<Identity>,
}

#[derive(Default)]
struct World {
    server: Server,
    links: Vec<Opened>,
    /// `GET /changes` calls: the seq each asked from.
    changes_from: Vec<u64>,
    /// `POST /commands` calls: their Idempotency-Keys.
    posted: Vec<String>,
    /// `POST /signal` calls.
    signals_posted: Vec<Signal>,
    /// The `traceparent` of each command posted.
    traceparents: Vec<Option<String>>,
    /// `POST /traces/{trace}/apply` calls: the trace and the report.
    applies_reported: Vec<(String, board_core::api::Applied)>,
    /// Letters handed to the platform's peer mesh.
    letters: Vec<Frame>,
    /// `GET /snapshots/{seq}` calls: the seq each asked for.
    snapshots_asked: Vec<u64>,
    /// The outbox as the engine last saved it (a reload's storage).
    stored_outbox: Outbox,
    /// The board as the engine last saved it (the browser's local copy).
    stored_board: Option<Kept>,
    /// While set, `POST /commands` finds no network.
    offline: bool,
    /// The actor each `POST /commands` said it was sent by.
    actors: Vec<Option<String>>,
    /// The engine's callback for the page's `visibilitychange`.
    visibility: Option<Rc<dyn Fn(bool)>>,
    /// The engine's callback for the browser's `online` and `offline` events.
    network: Option<Rc<dyn Fn(bool)>>,
    /// `POST /commands` calls, by which tab: `(tab, Idempotency-Key)`.
    attempts: Vec<(usize, String)>,
    /// How long the server's answers take on their way back (ms).
    answer_delay_ms: u64,
}

/// A platform: the world (one server) and the tab of a browser it is for.
#[derive(Clone)]
struct Fake(Rc<RefCell<World>>, Tab);

/// What a browser's tabs share: the channel on which they tell each other changes to the
/// outbox (a `BroadcastChannel` in a browser) and the leader lock (Web Locks): the first
/// tab that asks holds it until it goes, then the next in line gets it.
#[derive(Default)]
struct Tabs {
    /// Each open tab's listener, by tab number.
    listeners: Vec<(usize, Listener)>,
    /// The tabs waiting for the lock, in order; the first holds it.
    queue: Vec<(usize, Rc<dyn Fn()>)>,
}

type Listener = Rc<dyn Fn(Shared)>;

/// One tab: its number and its browser.
#[derive(Clone)]
struct Tab {
    id: usize,
    tabs: Rc<RefCell<Tabs>>,
}

/// Takes a tab's listener or place in the lock's line away when its engine stops.
struct Leaves(Rc<RefCell<Tabs>>, usize, bool);

impl Drop for Leaves {
    fn drop(&mut self) {
        let mut tabs = self.0.borrow_mut();
        if !self.2 {
            tabs.listeners.retain(|(id, _)| *id != self.1);
            return;
        }
        let held = tabs.queue.first().is_some_and(|(id, _)| *id == self.1);
        tabs.queue.retain(|(id, _)| *id != self.1);
        let next = tabs.queue.first().map(|(_, elected)| elected.clone());
        drop(tabs);
        if let (true, Some(elected)) = (held, next) {
            elected();
        }
    }
}

struct FakeLink {
    closed: Rc<RefCell<bool>>,
    open: Rc<RefCell<bool>>,
    /// A WebSocket: commands and signals go up it once it is open.
    websocket: bool,
    sent: Rc<RefCell<Vec<(String, Command)>>>,
    signals: Rc<RefCell<Vec<Signal>>>,
}

impl Link for FakeLink {
    fn carries_commands(&self) -> bool {
        self.websocket && *self.open.borrow()
    }

    fn send_command(&self, _request_id: &str, outgoing: &Outgoing) -> bool {
        if self.carries_commands() {
            self.sent.borrow_mut().push((outgoing.key.clone(), outgoing.command.clone()));
        }
        self.carries_commands()
    }

    fn send_signal(&self, signal: &Signal) -> bool {
        if self.carries_commands() {
            self.signals.borrow_mut().push(signal.clone());
        }
        self.carries_commands()
    }

    fn close(self: Box<Self>) {
        *self.closed.borrow_mut() = true;
    }
}

impl Platform for Fake {
    fn open(&self, opening: Opening, report: Report) -> Option<Box<dyn Link>> {
        let closed = Rc::new(RefCell::new(false));
        let open = Rc::new(RefCell::new(false));
        let sent = Rc::new(RefCell::new(Vec::new()));
        let signals = Rc::new(RefCell::new(Vec::new()));
        let websocket = opening.transport == Transport::Ws;
        self.0.borrow_mut().links.push(Opened {
            transport: opening.transport,
            from: opening.from,
            report,
            closed: closed.clone(),
            open: open.clone(),
            sent: sent.clone(),
            signals: signals.clone(),
            me: opening.me,
        });
        Some(Box::new(FakeLink { closed, open, websocket, sent, signals }))
    }

    async fn changes(&self, _board: &str, from: &Position, pattern: PatternKind) -> Metered<FramesPage> {
        let mut world = self.0.borrow_mut();
        world.changes_from.push(from.seq);
        let server = &world.server;
        let frames = server.records[from.seq as usize..]
            .iter()
            .map(|record| pattern.frame_for(record, &server.states[record.seq as usize]))
            .collect();
        metered("changes", Ok(FramesPage { head: server.records.len() as u64, frames, epoch: "e".into() }))
    }

    async fn state(&self, _board: &str, have: Option<&Position>) -> Metered<Option<BoardState>> {
        let world = self.0.borrow();
        let now = world.server.states.last().unwrap().clone();
        metered("state", Ok((have.map(|h| h.seq) != Some(now.seq)).then_some(now)))
    }

    /// The server holds the head only, as the real one does.
    async fn snapshot_at(&self, _board: &str, seq: u64, _epoch: Option<&str>) -> Metered<BoardState> {
        let mut world = self.0.borrow_mut();
        world.snapshots_asked.push(seq);
        let now = world.server.states.last().unwrap().clone();
        metered(
            "snapshot",
            match seq.cmp(&now.seq) {
                std::cmp::Ordering::Equal => Ok(now),
                std::cmp::Ordering::Less => Err(HttpError::Status { status: 410, message: "gone".into() }),
                std::cmp::Ordering::Greater => Err(HttpError::Status { status: 404, message: "beyond".into() }),
            },
        )
    }

    async fn command(&self, board: &str, outgoing: &Outgoing) -> Metered<CommandAnswer> {
        self.0.borrow_mut().actors.push(outgoing.actor.clone());
        self.0.borrow_mut().traceparents.push(outgoing.traceparent.clone());
        self.0.borrow_mut().attempts.push((self.1.id, outgoing.key.clone()));
        let answer = self.answer_command(board, &outgoing.command, &outgoing.key);
        let delay = self.0.borrow().answer_delay_ms;
        tokio::time::sleep(Duration::from_millis(delay)).await;
        metered("command", answer)
    }

    fn share(&self, _board: &str, change: &Shared) {
        let others: Vec<_> =
            self.1.tabs.borrow().listeners.iter().filter(|(id, _)| *id != self.1.id).map(|(_, l)| l.clone()).collect();
        for listener in others {
            listener(change.clone());
        }
    }

    fn on_shared(&self, _board: &str, heard: Rc<dyn Fn(Shared)>) -> Box<dyn Any> {
        self.1.tabs.borrow_mut().listeners.push((self.1.id, heard));
        Box::new(Leaves(self.1.tabs.clone(), self.1.id, false))
    }

    fn lead(&self, _board: &str, elected: Rc<dyn Fn()>) -> Box<dyn Any> {
        let first = self.1.tabs.borrow().queue.is_empty();
        self.1.tabs.borrow_mut().queue.push((self.1.id, elected.clone()));
        if first {
            elected();
        }
        Box::new(Leaves(self.1.tabs.clone(), self.1.id, true))
    }

    async fn signal(&self, _board: &str, signal: &Signal) -> Metered<()> {
        self.0.borrow_mut().signals_posted.push(signal.clone());
        metered("signal", Ok(()))
    }
    async fn report_applied(&self, _board: &str, trace: &str, report: &board_core::api::Applied) -> Metered<()> {
        self.0.borrow_mut().applies_reported.push((trace.to_owned(), report.clone()));
        metered("trace", Ok(()))
    }

    fn letter(&self, frame: Frame) {
        self.0.borrow_mut().letters.push(frame);
    }

    async fn sleep(&self, ms: u32) {
        tokio::time::sleep(Duration::from_millis(u64::from(ms))).await;
    }

    /// No jitter: delays are the backoff's lower bound (a second tab's keys differ).
    fn random(&self) -> f64 {
        self.1.id as f64 * 0.25
    }

    fn now_ms(&self) -> i64 {
        // Paused tokio time, as milliseconds since the test began.
        static START: std::sync::OnceLock<tokio::time::Instant> = std::sync::OnceLock::new();
        START.get_or_init(tokio::time::Instant::now).elapsed().as_millis() as i64
    }

    fn spawn(&self, task: impl Future<Output = ()> + 'static) {
        tokio::task::spawn_local(task);
    }

    fn save_outbox(&self, _board: &str, outbox: &Outbox) {
        self.0.borrow_mut().stored_outbox = outbox.clone();
    }

    fn save_board(&self, _board: &str, state: &std::sync::Arc<BoardState>, epoch: Option<&str>) {
        let kept = Kept { state: (**state).clone(), epoch: epoch.map(str::to_owned), saved_at: self.now_ms() };
        self.0.borrow_mut().stored_board = Some(kept);
    }

    async fn load_local(&self, _board: &str) -> LocalCopy {
        let world = self.0.borrow();
        LocalCopy { board: world.stored_board.clone(), outbox: world.stored_outbox.clone() }
    }

    fn on_network(&self, change: Rc<dyn Fn(bool)>) -> Box<dyn Any> {
        self.0.borrow_mut().network = Some(change);
        Box::new(())
    }

    fn on_visibility(&self, change: Rc<dyn Fn(bool)>) -> Box<dyn Any> {
        self.0.borrow_mut().visibility = Some(change);
        Box::new(())
    }
}

impl Fake {
    /// `POST /commands` on the fake server.
    fn answer_command(&self, _board: &str, command: &Command, key: &str) -> Result<CommandAnswer, HttpError> {
        if self.0.borrow().offline {
            return Err(HttpError::Network("offline".into()));
        }
        self.0.borrow_mut().posted.push(key.to_owned());
        // Idempotency-Key: a key already committed gets its first answer again.
        if let Some(record) = self.0.borrow().server.records.iter().find(|r| r.key.as_deref() == Some(key)) {
            let step = self.step_of(record.seq).map(Box::new);
            return Ok(CommandAnswer { seq: record.seq, id: None, event: record.event.clone(), step });
        }
        match self.commit_keyed(command, Some(key)) {
            Ok(record) => {
                let step = self.step_of(record.seq).map(Box::new);
                Ok(CommandAnswer { seq: record.seq, id: None, event: record.event, step })
            }
            // 409 or 422 on the real server; either is a refusal.
            Err(err) => Err(HttpError::Status { status: 422, message: err.to_string() }),
        }
    }

    fn new() -> Fake {
        let world = World {
            server: Server { states: vec![BoardState::empty("b", "B")], records: Vec::new() },
            ..World::default()
        };
        Fake(Rc::new(RefCell::new(world)), Tab { id: 0, tabs: Rc::default() })
    }

    /// Another tab of the same browser, on the same server.
    fn tab(&self, id: usize) -> Fake {
        Fake(self.0.clone(), Tab { id, tabs: self.1.tabs.clone() })
    }

    /// Commits a command on the fake server; returns its record.
    fn commit(&self, command: &Command) -> ChangeRecord {
        self.commit_keyed(command, None).unwrap()
    }

    /// Commits a command sent with `key`, or refuses it as the server would.
    fn commit_keyed(&self, command: &Command, key: Option<&str>) -> Result<ChangeRecord, DomainError> {
        let mut world = self.0.borrow_mut();
        let done = execute(world.server.states.last().unwrap(), command)?;
        let record = ChangeRecord::new(&done, 1).keyed(key);
        world.server.records.push(record.clone());
        world.server.states.push(done.state);
        Ok(record)
    }

    /// What change `seq` did to its todo, as the real server answers it (for undo).
    fn step_of(&self, seq: u64) -> Option<Step> {
        let world = self.0.borrow();
        let (before, after) = (&world.server.states[seq as usize - 1], &world.server.states[seq as usize]);
        Step::of(before, after, &world.server.records[seq as usize - 1].event)
    }

    /// The page goes to the background (`false`) or comes back (`true`).
    fn visible(&self, visible: bool) {
        let change = self.0.borrow().visibility.clone().expect("the engine listens");
        change(visible);
    }

    fn add(&self, title: &str) -> ChangeRecord {
        self.commit(&Command::AddTodo { title: title.into(), sprint_id: None })
    }

    /// The frame of change `seq` in `pattern`.
    fn frame(&self, pattern: PatternKind, seq: u64) -> Frame {
        let world = self.0.borrow();
        pattern.frame_for(&world.server.records[seq as usize - 1], &world.server.states[seq as usize])
    }

    /// What link `n` (0: the first opened) reports.
    fn report(&self, n: usize, event: LinkEvent) {
        if event == LinkEvent::Opened {
            *self.0.borrow().links[n].open.borrow_mut() = true;
        }
        let report = self.0.borrow().links[n].report.clone();
        report(event);
    }

    fn links(&self) -> usize {
        self.0.borrow().links.len()
    }

    /// The browser goes offline (`false`) or comes back (`true`): its event, and its
    /// requests fail meanwhile.
    fn network(&self, online: bool) {
        self.0.borrow_mut().offline = !online;
        let change = self.0.borrow().network.clone().expect("the engine listens");
        change(online);
    }

    fn closed(&self, n: usize) -> bool {
        *self.0.borrow().links[n].closed.borrow()
    }
}

/// An answer of the fake server, costed as the browser would be: no network, no cost;
/// else its status and the bytes of its JSON.
fn metered<T: serde::Serialize>(kind: &'static str, answer: Result<T, HttpError>) -> Metered<T> {
    let cost = match &answer {
        Err(HttpError::Network(_)) => None,
        Err(HttpError::Status { status, message }) => {
            Some(Exchange { kind, status: *status, sent: 0, received: message.len() })
        }
        Ok(body) => Some(Exchange { kind, status: 200, sent: 0, received: serde_json::to_string(body).unwrap().len() }),
    };
    Metered { answer, cost }
}

/// Lets the engine run until it waits for something (paused time does not move).
async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

fn client(pattern: PatternKind, transport: Transport) -> BoardClient {
    BoardClient::new(BoardState::empty("b", "B").into(), pattern, transport, String::new(), true)
}

/// Runs `test` with the engine of a fresh client on a fresh fake, on one thread.
async fn with_engine<F, Fut>(pattern: PatternKind, transport: Transport, test: F)
where
    F: FnOnce(BoardClient, Fake) -> Fut,
    Fut: Future<Output = ()>,
{
    run(pattern, transport, false, test).await
}

/// [`with_engine`] with the fault lab in front of the fake platform, as on a real page.
async fn with_lab<F, Fut>(pattern: PatternKind, transport: Transport, test: F)
where
    F: FnOnce(BoardClient, Fake) -> Fut,
    Fut: Future<Output = ()>,
{
    run(pattern, transport, true, test).await
}

/// Runs `body` on one thread, as a page runs, with a reactive owner for its signals.
async fn in_page(body: impl Future<Output = ()>) {
    // Signals live in the reactive owner's arena (a sandboxed one when the workspace's
    // server build turns that feature on): one owner for the test, set on its one thread.
    let owner = Owner::new();
    owner.set();
    tokio::task::LocalSet::new().run_until(body).await;
    drop(owner);
}

async fn run<F, Fut>(pattern: PatternKind, transport: Transport, lab: bool, test: F)
where
    F: FnOnce(BoardClient, Fake) -> Fut,
    Fut: Future<Output = ()>,
{
    in_page(async move {
        let (client, fake) = (client(pattern, transport), Fake::new());
        match lab {
            true => {
                tokio::task::spawn_local(app::sync::engine::start(client, Faulty::new(fake.clone(), client.open_lab())))
            }
            false => tokio::task::spawn_local(app::sync::engine::start(client, fake.clone())),
        };
        settle().await;
        assert_eq!(fake.links(), 1, "the engine connects at once");
        test(client, fake).await;
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_relayed_stream_is_told_and_its_frames_cost_this_tab_nothing_until_the_next_connection() {
    with_engine(PatternKind::PushOps, Transport::Sse, |client, fake| async move {
        fake.report(0, LinkEvent::Opened);
        fake.add("own");
        fake.report(0, LinkEvent::Frame(fake.frame(PatternKind::PushOps, 1), 100));
        fake.report(0, LinkEvent::Sharing(Sharing::Relayed));
        fake.add("relayed");
        fake.report(0, LinkEvent::Frame(fake.frame(PatternKind::PushOps, 2), 100));
        // The same frame again (the follower's own poll brought it too): the seq rule skips it.
        fake.report(0, LinkEvent::Frame(fake.frame(PatternKind::PushOps, 2), 100));
        settle().await;
        assert_eq!(client.sharing.get_untracked(), Sharing::Relayed);
        assert_eq!(client.state.get_untracked().seq, 2);
        let wire = client.wire.get_untracked();
        assert_eq!(wire.bytes, 100, "only the tab's own stream frame crossed its connection");
        assert_eq!(wire.recent.iter().filter(|e| e.carried).count(), 2);

        // A new connection starts as the tab's own until its link says otherwise.
        fake.report(0, LinkEvent::Failed);
        tokio::time::sleep(Duration::from_millis(300)).await;
        settle().await;
        assert_eq!(fake.links(), 2);
        assert_eq!(client.sharing.get_untracked(), Sharing::Own);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_dropped_connection_reopens_after_backoff_from_the_applied_seq() {
    with_engine(PatternKind::PushOps, Transport::Sse, |client, fake| async move {
        fake.report(0, LinkEvent::Opened);
        for seq in 1..=2 {
            fake.add(&format!("t{seq}"));
            fake.report(0, LinkEvent::Frame(fake.frame(PatternKind::PushOps, seq), 100));
        }
        settle().await;
        assert_eq!((client.state.get_untracked().seq, client.conn.get_untracked()), (2, Conn::Live));

        let failed_at = tokio::time::Instant::now();
        fake.report(0, LinkEvent::Failed);
        settle().await;
        assert_eq!(client.conn.get_untracked(), Conn::Offline);
        assert!(*fake.0.borrow().links[0].closed.borrow(), "the failed link is closed");
        assert_eq!(fake.links(), 1, "no reconnect before the backoff delay");

        // The first delay with no jitter is half of 250 ms.
        tokio::time::sleep(Duration::from_millis(200)).await;
        settle().await;
        assert_eq!(fake.links(), 2, "reconnected");
        let reopened = {
            let world = fake.0.borrow();
            (world.links[1].transport, world.links[1].from.seq)
        };
        assert_eq!(reopened, (Transport::Sse, 2), "from the applied seq");
        assert!(failed_at.elapsed() >= Duration::from_millis(125));

        // A second failure in a row waits twice as long; a success resets the sequence.
        fake.report(1, LinkEvent::Failed);
        tokio::time::sleep(Duration::from_millis(200)).await;
        settle().await;
        assert_eq!(fake.links(), 2, "the second delay is 250 ms");
        tokio::time::sleep(Duration::from_millis(100)).await;
        settle().await;
        assert_eq!(fake.links(), 3);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn pokes_are_answered_by_one_pull_of_the_newest_seqs_immutable_snapshot() {
    with_engine(PatternKind::PokePull, Transport::Sse, |client, fake| async move {
        for seq in 1..=3 {
            fake.add(&format!("t{seq}"));
            fake.report(0, LinkEvent::Frame(fake.frame(PatternKind::PokePull, seq), 20));
        }
        settle().await;
        assert_eq!(fake.0.borrow().snapshots_asked, [3], "three pokes, one pull, of the newest seq");
        assert_eq!(*client.state.get_untracked(), fake.0.borrow().server.states[3]);
        let pulled = serde_json::to_string(&fake.0.borrow().server.states[3]).unwrap().len() as u64;
        let wire = client.wire.get_untracked();
        assert_eq!((wire.frames, wire.bytes), (3, 3 * 20 + pulled), "the pokes one pull answered count too");

        // The board moved on before the pull: seq 4 is gone (410), so the client takes the
        // current state, which is newer.
        fake.add("t4");
        fake.add("t5");
        fake.report(0, LinkEvent::Frame(fake.frame(PatternKind::PokePull, 4), 20));
        settle().await;
        assert_eq!(fake.0.borrow().snapshots_asked, [3, 4]);
        assert_eq!(*client.state.get_untracked(), fake.0.borrow().server.states[5]);
        // Poke 5 is then already held: no request at all.
        fake.report(0, LinkEvent::Frame(fake.frame(PatternKind::PokePull, 5), 20));
        settle().await;
        assert_eq!(fake.0.borrow().snapshots_asked, [3, 4]);
        assert_eq!(client.wire.get_untracked().requests, 3, "one pull, then a 410 and the state");
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_gap_is_filled_from_the_log_before_later_frames_apply() {
    with_engine(PatternKind::EventDiff, Transport::Ws, |client, fake| async move {
        for seq in 1..=4 {
            fake.add(&format!("t{seq}"));
        }
        fake.report(0, LinkEvent::Frame(fake.frame(PatternKind::EventDiff, 1), 100));
        // Seq 2 and 3 never arrive on the stream; 4 does.
        fake.report(0, LinkEvent::Frame(fake.frame(PatternKind::EventDiff, 4), 100));
        settle().await;
        assert_eq!(fake.0.borrow().changes_from, [1], "backfilled from the applied seq");
        let state = client.state.get_untracked();
        assert_eq!(*state, fake.0.borrow().server.states[4], "the client equals the server at seq 4");
        // A late copy of seq 3 changes nothing.
        fake.report(0, LinkEvent::Frame(fake.frame(PatternKind::EventDiff, 3), 100));
        settle().await;
        assert_eq!(client.state.get_untracked().seq, 4);
        assert_eq!(client.wire.get_untracked().requests, 1, "one backfill request");
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn switching_transport_resumes_from_the_applied_seq_and_ignores_the_old_link() {
    with_engine(PatternKind::PushEvents, Transport::Poll, |client, fake| async move {
        fake.add("one");
        fake.add("two");
        fake.report(0, LinkEvent::Frame(fake.frame(PatternKind::PushEvents, 1), 100));
        settle().await;

        client.switch(PatternKind::PushEvents, Transport::Ws);
        settle().await;
        assert!(*fake.0.borrow().links[0].closed.borrow(), "the old link is closed");
        assert_eq!(fake.links(), 2);
        let (transport, from) = {
            let world = fake.0.borrow();
            (world.links[1].transport, world.links[1].from.seq)
        };
        assert_eq!((transport, from), (Transport::Ws, 1));

        // What the old link still reports (a request in flight) is ignored.
        fake.report(0, LinkEvent::Frame(fake.frame(PatternKind::PushEvents, 2), 100));
        settle().await;
        assert_eq!(client.state.get_untracked().seq, 1, "nothing from the replaced link");
        fake.report(1, LinkEvent::Frame(fake.frame(PatternKind::PushEvents, 2), 100));
        settle().await;
        assert_eq!(*client.state.get_untracked(), fake.0.borrow().server.states[2]);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_command_whose_socket_dies_is_posted_with_the_same_key() {
    with_engine(PatternKind::EventDiff, Transport::Ws, |client, fake| async move {
        fake.report(0, LinkEvent::Opened);
        client.send(Command::AddTodo { title: "up the socket".into(), sprint_id: None });
        settle().await;
        let sent = fake.0.borrow().links[0].sent.borrow().clone();
        assert_eq!(sent.len(), 1, "sent up the WebSocket");
        assert!(fake.0.borrow().posted.is_empty());

        // The socket dies before any ack: the command goes by POST, with its key.
        fake.report(0, LinkEvent::Failed);
        settle().await;
        assert_eq!(fake.0.borrow().posted, [sent[0].0.clone()]);

        // Over a transport that carries no commands, a command is posted at once.
        client.switch(PatternKind::EventDiff, Transport::Sse);
        settle().await;
        client.send(Command::AddTodo { title: "by POST".into(), sprint_id: None });
        settle().await;
        assert_eq!(fake.0.borrow().posted.len(), 2);
        assert_eq!(fake.0.borrow().server.states.last().unwrap().todos.len(), 2);
    })
    .await;
}

/// Ephemeral frames never touch the board: a presence list replaces the last one (and
/// drops the cursors of tabs that left), letters go to the peer mesh; the page's signals go
/// up the WebSocket while it is open, else by `POST`; a new name reconnects carrying it.
#[tokio::test(start_paused = true)]
async fn presence_and_signals_stay_beside_the_board() {
    with_engine(PatternKind::PushOps, Transport::Ws, |client, fake| async move {
        fake.report(0, LinkEvent::Opened);
        let member = |client: &str| Member {
            person: format!("p-{client}"),
            name: format!("Name {client}"),
            tabs: 1,
            clients: vec![client.to_owned()],
            via: Vec::new(),
        };
        client.cursors.update(|c| {
            c.insert(
                "gone".into(),
                app::sync::client::RemoteCursor { x: 0.1, y: 0.1, link: app::sync::client::CursorLink::Relay },
            );
        });
        fake.report(
            0,
            LinkEvent::Frame(Frame::Presence { rev: 7, members: vec![member("a"), member("b")], more: 0 }, 50),
        );
        let cursor = Frame::Cursor { from: "b".into(), x: 0.5, y: 0.25 };
        fake.report(0, LinkEvent::Frame(cursor.clone(), 40));
        settle().await;
        assert_eq!(client.presence.get_untracked().len(), 2);
        assert!(client.cursors.get_untracked().is_empty(), "a cursor of a tab no longer listed is dropped");
        assert_eq!(fake.0.borrow().letters, [cursor]);
        assert_eq!(client.state.get_untracked().seq, 0, "presence moves no seq");

        let signal = Signal {
            from: "a".into(),
            to: "*".into(),
            data: None,
            cursor: Some(Cursor { x: 0.2, y: 0.2 }),
            secret: None,
        };
        client.signal(signal.clone());
        settle().await;
        assert_eq!(*fake.0.borrow().links[0].signals.borrow(), std::slice::from_ref(&signal), "up the open WebSocket");
        client.switch(PatternKind::PushOps, Transport::Sse);
        settle().await;
        client.signal(signal.clone());
        settle().await;
        assert_eq!(fake.0.borrow().signals_posted, [signal], "posted when the connection cannot carry it");

        client.me.set(Some(Identity { client: "a".into(), person: "p".into(), name: "Old".into() }));
        assert_eq!(client.rename("  New name "), Some("New name".into()));
        settle().await;
        let world = fake.0.borrow();
        let me = world.links.last().unwrap().me.clone().unwrap();
        assert_eq!((world.links.len(), me.name.as_str()), (3, "New name"), "reconnected under the new name");
    })
    .await;
}

/// Optimistic updates: a command shows at once, marked pending; its frame arriving before
/// its answer (it carries the command's key) settles it without showing it twice, and the
/// late `ack` changes nothing; a refused command vanishes, its message kept for the page.
#[tokio::test(start_paused = true)]
async fn a_command_shows_at_once_and_once_even_when_its_frame_beats_the_answer() {
    with_engine(PatternKind::PushEvents, Transport::Ws, |client, fake| async move {
        fake.report(0, LinkEvent::Opened);
        client.send(Command::AddTodo { title: "mine".into(), sprint_id: None });
        settle().await;
        let shown = client.shown.get_untracked();
        assert_eq!(shown.state.todos.len(), 1, "shown before any answer");
        assert_eq!(shown.state.seq, 0);
        assert_eq!(shown.pending_todos.len(), 1, "and marked pending");

        // The server commits it; its frame comes down the socket before the ack.
        let (key, command) = fake.0.borrow().links[0].sent.borrow()[0].clone();
        fake.commit_keyed(&command, Some(&key)).unwrap();
        fake.report(0, LinkEvent::Frame(fake.frame(PatternKind::PushEvents, 1), 100));
        settle().await;
        let shown = client.shown.get_untracked();
        assert_eq!(shown.state.todos.len(), 1, "once, not twice");
        assert_eq!(shown.state.seq, 1);
        assert!(shown.pending_todos.is_empty() && client.outbox.get_untracked().is_empty());

        // A rename the server will refuse: another tab renamed the todo first (its frame is
        // still on the way), so this one's expected version is stale. Shown, then gone.
        fake.commit(&Command::RenameTodo { id: 1, title: "theirs".into(), expected_version: None });
        let version = client.state.get_untracked().todos[0].version;
        client.send(Command::RenameTodo { id: 1, title: "taken".into(), expected_version: Some(version) });
        settle().await;
        assert_eq!(client.shown.get_untracked().state.todos[0].title, "taken");
        fake.report(
            0,
            LinkEvent::Frame(Frame::Error { request_id: None, status: 409, error: "the todo changed".into() }, 60),
        );
        settle().await;
        // An `error` without a request id answers no command of ours: it only shows.
        assert_eq!(client.outbox.get_untracked().len(), 1);
        let sent = fake.0.borrow().links[0].sent.borrow().len();
        assert_eq!(sent, 2);
        fake.report(0, LinkEvent::Failed);
        settle().await;
        // Posted after the socket died: the fake server refuses the stale version.
        let shown = client.shown.get_untracked();
        assert_eq!(shown.state.todos[0].title, "mine", "the refused rename is gone");
        assert!(shown.pending_todos.is_empty());
        let refusals = client.refusals.get_untracked();
        assert_eq!(refusals.len(), 1);
        assert_eq!(refusals[0].todo, Some(1));
        assert!(client.outbox.get_untracked().is_empty());
    })
    .await;
}

/// Offline: commands wait in the outbox (saved for a reload), the page counts them; a
/// reloaded page finds them and, once a connection opens, sends each with its original
/// key, so the server applies each exactly once.
#[tokio::test(start_paused = true)]
async fn offline_commands_survive_a_reload_and_apply_once() {
    let owner = Owner::new();
    owner.set();
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async move {
            let fake = Fake::new();
            fake.0.borrow_mut().offline = true;
            let first = client(PatternKind::PushOps, Transport::Sse);
            let engine = tokio::task::spawn_local(app::sync::engine::start(first, fake.clone()));
            settle().await;
            for title in ["a", "b", "c"] {
                first.send(Command::AddTodo { title: title.into(), sprint_id: None });
            }
            // Every POST attempt fails; the backoff between them runs on paused time.
            tokio::time::sleep(Duration::from_secs(120)).await;
            assert_eq!(first.outbox.get_untracked().waiting(), 3);
            assert_eq!(first.shown.get_untracked().state.todos.len(), 3, "shown while offline");
            let stored = fake.0.borrow().stored_outbox.clone();
            let keys: Vec<String> = stored.iter().map(|p| p.key.clone()).collect();
            assert_eq!(keys.len(), 3);
            assert!(fake.0.borrow().posted.is_empty());

            // The page reloads (a new engine, the same storage), then the network returns.
            engine.abort();
            let second = client(PatternKind::PushOps, Transport::Sse);
            tokio::task::spawn_local(app::sync::engine::start(second, fake.clone()));
            settle().await;
            assert_eq!(second.outbox.get_untracked().waiting(), 3, "the reload kept them");
            fake.0.borrow_mut().offline = false;
            let reopened = fake.links() - 1;
            fake.report(reopened, LinkEvent::Opened);
            settle().await;
            assert_eq!(fake.0.borrow().posted, keys, "sent in order with their first keys");
            let server = fake.0.borrow().server.states.last().unwrap().clone();
            let titles: Vec<_> = server.todos.iter().map(|t| t.title.as_str()).collect();
            assert_eq!(titles, ["a", "b", "c"], "each applied once");

            // A second open (a reconnect) sends nothing again; the frames settle them.
            fake.report(reopened, LinkEvent::Opened);
            settle().await;
            assert_eq!(fake.0.borrow().posted.len(), 3);
            for seq in 1..=3 {
                fake.report(reopened, LinkEvent::Frame(fake.frame(PatternKind::PushOps, seq), 100));
            }
            settle().await;
            assert!(second.outbox.get_untracked().is_empty());
            assert!(fake.0.borrow().stored_outbox.is_empty(), "storage emptied too");
            assert_eq!(*second.shown.get_untracked().state, server);
        })
        .await;
    drop(owner);
}

/// The timeline's steps, oldest first.
fn steps(client: BoardClient) -> Vec<NoteStep> {
    client.wire.get_untracked().notes.iter().rev().map(|note| note.step).collect()
}

/// Lost frames: the next one that arrives shows the gap, the engine backfills it from the
/// log, and the timeline tells the story in order. A heartbeat ahead finds a lost last frame.
#[tokio::test(start_paused = true)]
async fn lab_dropped_frames_are_found_and_backfilled() {
    with_lab(PatternKind::PushOps, Transport::Sse, |client, fake| async move {
        fake.report(0, LinkEvent::Opened);
        client.fault(Fault::DropFrames(2));
        settle().await;
        assert_eq!(client.lab.get_untracked().drop_next, 2);
        for seq in 1..=3 {
            fake.add(&format!("t{seq}"));
            fake.report(0, LinkEvent::Frame(fake.frame(PatternKind::PushOps, seq), 100));
        }
        settle().await;
        assert_eq!(*client.state.get_untracked(), fake.0.borrow().server.states[3], "converged");
        assert_eq!(fake.0.borrow().changes_from, [0], "one backfill, from the applied seq");
        use NoteStep::*;
        assert_eq!(steps(client), [Drop, Drop, Drop, Gap, Backfill]);
        assert_eq!(client.lab.get_untracked().drop_next, 0);

        // The last change's frame is lost and nothing follows: the heartbeat's head finds it.
        client.fault(Fault::DropFrames(1));
        fake.add("t4");
        settle().await;
        fake.report(0, LinkEvent::Frame(fake.frame(PatternKind::PushOps, 4), 100));
        settle().await;
        assert_eq!(client.state.get_untracked().seq, 3);
        fake.report(0, LinkEvent::Frame(Frame::Heartbeat { head: 4 }, 20));
        settle().await;
        assert_eq!(*client.state.get_untracked(), fake.0.borrow().server.states[4]);
        assert_eq!(steps(client)[5..], [Drop, Drop, Gap, Backfill]);
    })
    .await;
}

/// A cut: the connection fails at once, no connection opens and every request fails while
/// it lasts; a command made meanwhile waits, pending. When the network is back the engine
/// reconnects at once (the lab says "online") and the command goes again with its key:
/// applied once.
#[tokio::test(start_paused = true)]
async fn lab_cut_ends_in_a_reconnect_and_a_resend() {
    with_lab(PatternKind::PushEvents, Transport::Ws, |client, fake| async move {
        fake.report(0, LinkEvent::Opened);
        settle().await;
        client.fault(Fault::Cut { seconds: 3 });
        settle().await;
        assert_eq!(client.conn.get_untracked(), Conn::Offline);
        assert!(*fake.0.borrow().links[0].closed.borrow(), "the cut link is closed");
        client.send(Command::AddTodo { title: "during the cut".into(), sprint_id: None });
        tokio::time::sleep(Duration::from_millis(2900)).await;
        settle().await;
        assert_eq!(fake.links(), 1, "no connection opens during the cut");
        assert!(fake.0.borrow().posted.is_empty(), "no request gets through");
        assert_eq!(client.shown.get_untracked().pending_todos.len(), 1, "shown, pending");

        tokio::time::sleep(Duration::from_millis(200)).await;
        settle().await;
        assert_eq!(fake.links(), 2, "reconnected as soon as the network is back");
        assert_eq!(fake.0.borrow().links[1].from.seq, 0);
        fake.report(1, LinkEvent::Opened);
        settle().await;
        assert_eq!(fake.0.borrow().server.todos_len(), 1, "sent as the network came back, not after a retry delay");
        // Whatever retry was still due must not apply it again.
        tokio::time::sleep(Duration::from_secs(10)).await;
        settle().await;
        let server = fake.0.borrow().server.states.last().unwrap().clone();
        assert_eq!(server.todos.len(), 1, "applied exactly once");
        fake.report(1, LinkEvent::Frame(fake.frame(PatternKind::PushEvents, 1), 100));
        settle().await;
        assert!(client.outbox.get_untracked().is_empty());
        assert_eq!(*client.state.get_untracked(), server);
        let steps = steps(client);
        use NoteStep::*;
        for step in [Cut, Reconnect, Resend, Restored] {
            assert!(steps.contains(&step), "{step:?} in {steps:?}");
        }
        let cut = steps.iter().position(|s| *s == Cut).unwrap();
        let restored = steps.iter().position(|s| *s == Restored).unwrap();
        assert!(cut < restored && steps[restored + 1..].contains(&Reconnect), "{steps:?}");
    })
    .await;
}

/// Latency delays every report and every request by as much, and never reorders frames.
#[tokio::test(start_paused = true)]
async fn lab_latency_delays_frames_in_order_and_requests() {
    with_lab(PatternKind::EventDiff, Transport::Sse, |client, fake| async move {
        fake.report(0, LinkEvent::Opened);
        client.fault(Fault::Latency { fixed_ms: 500, jitter_ms: 0 });
        settle().await;
        for seq in 1..=3 {
            fake.add(&format!("t{seq}"));
            fake.report(0, LinkEvent::Frame(fake.frame(PatternKind::EventDiff, seq), 100));
        }
        client.send(Command::AddTodo { title: "slow".into(), sprint_id: None });
        tokio::time::sleep(Duration::from_millis(490)).await;
        settle().await;
        assert_eq!(client.state.get_untracked().seq, 0, "nothing yet");
        assert!(fake.0.borrow().posted.is_empty(), "the command waits too");
        assert_eq!(client.lab.get_untracked().fixed_ms, 500);
        tokio::time::sleep(Duration::from_millis(20)).await;
        settle().await;
        assert_eq!(*client.state.get_untracked(), fake.0.borrow().server.states[3], "all three, in order");
        assert_eq!(fake.0.borrow().posted.len(), 1);
        assert!(!steps(client).contains(&NoteStep::Gap), "in order: no gap");
    })
    .await;
}

/// A pause holds what links report, however long; resuming hands it over in order.
#[tokio::test(start_paused = true)]
async fn lab_pause_holds_frames_until_resumed() {
    with_lab(PatternKind::PushState, Transport::Ws, |client, fake| async move {
        fake.report(0, LinkEvent::Opened);
        client.fault(Fault::Pause(true));
        settle().await;
        for seq in 1..=2 {
            fake.add(&format!("t{seq}"));
            fake.report(0, LinkEvent::Frame(fake.frame(PatternKind::PushState, seq), 100));
        }
        tokio::time::sleep(Duration::from_secs(30)).await;
        settle().await;
        assert_eq!(client.state.get_untracked().seq, 0);
        assert_eq!(client.lab.get_untracked().held, 2);
        client.fault(Fault::Pause(false));
        settle().await;
        assert_eq!(*client.state.get_untracked(), fake.0.borrow().server.states[2]);
        assert_eq!(client.lab.get_untracked().held, 0);
        assert_eq!(steps(client), [NoteStep::Pause, NoteStep::Resume]);
    })
    .await;
}

/// `reset` (the server cannot catch this tab up, or the board is another incarnation): the
/// engine takes a fresh snapshot whatever it held, and the timeline says why.
#[tokio::test(start_paused = true)]
async fn a_reset_takes_a_fresh_snapshot_and_says_so() {
    with_lab(PatternKind::PushOps, Transport::Sse, |client, fake| async move {
        fake.report(0, LinkEvent::Opened);
        for seq in 1..=3 {
            fake.add(&format!("t{seq}"));
        }
        fake.report(0, LinkEvent::Frame(Frame::Reset { head: 3 }, 30));
        settle().await;
        assert_eq!(*client.state.get_untracked(), fake.0.borrow().server.states[3]);
        assert!(fake.0.borrow().changes_from.is_empty(), "a snapshot, not a backfill");
        assert_eq!(steps(client), [NoteStep::Reset]);
    })
    .await;
}

/// The browser goes offline: the open stream is closed at once (it could outlive the
/// network and look live), nothing is tried while it lasts, and the page says so with the
/// changes waiting. Back online, the stream reopens and what waited goes at once.
#[tokio::test(start_paused = true)]
async fn offline_closes_the_stream_and_back_online_sends_at_once() {
    with_engine(PatternKind::PushOps, Transport::Sse, |client, fake| async move {
        let now = now_ms;
        fake.report(0, LinkEvent::Opened);
        settle().await;
        assert_eq!(client.connection(now()), Connection::Live);

        fake.network(false);
        settle().await;
        assert!(fake.closed(0), "the stream is closed at once");
        assert_eq!(client.connection(now()), Connection::Offline);
        client.send(Command::AddTodo { title: "offline".into(), sprint_id: None });
        tokio::time::sleep(Duration::from_secs(60)).await;
        settle().await;
        assert_eq!(fake.links(), 1, "no connection is tried offline");
        assert!(fake.0.borrow().posted.is_empty(), "no request is tried offline");
        let words = client.connection(now()).words(client.outbox.get_untracked().waiting(), |_| String::new());
        assert_eq!(words, "offline: 1 change waiting");

        fake.network(true);
        settle().await;
        assert_eq!(fake.links(), 2, "back online, the stream reopens at once");
        assert_eq!(fake.0.borrow().posted.len(), 1, "and the waiting command goes at once");
        fake.report(1, LinkEvent::Opened);
        settle().await;
        assert_eq!(client.connection(now()), Connection::Live);
        assert_eq!(fake.0.borrow().posted.len(), 1, "once");
    })
    .await;
}

/// A command whose `POST` failed waits out a retry delay; a connection that opens meanwhile
/// shows the server is back, and the command goes at once rather than when the delay ends.
#[tokio::test(start_paused = true)]
async fn a_connection_that_opens_wakes_a_command_waiting_to_retry() {
    with_engine(PatternKind::PushOps, Transport::Sse, |client, fake| async move {
        fake.report(0, LinkEvent::Opened);
        fake.0.borrow_mut().offline = true;
        fake.report(0, LinkEvent::Failed);
        settle().await;
        assert!(matches!(client.connection(now_ms()), Connection::Reconnecting { in_ms: Some(_) }));
        client.send(Command::AddTodo { title: "t".into(), sprint_id: None });
        // Attempt 1 fails at once, attempt 2 after 125 ms; the next waits until 375 ms.
        tokio::time::sleep(Duration::from_millis(200)).await;
        settle().await;
        assert_eq!(fake.links(), 2, "the reconnect is under way");
        fake.0.borrow_mut().offline = false;
        fake.report(1, LinkEvent::Opened);
        settle().await;
        assert_eq!(fake.0.borrow().posted.len(), 1, "sent as the connection opened, with no time passing");
        assert_eq!(fake.0.borrow().server.states.last().unwrap().todos.len(), 1);
        assert!(steps(client).contains(&NoteStep::Resend), "the timeline says it went again");
    })
    .await;
}

/// Failures in a row keep the time of the first: after `UNREACHABLE_AFTER_MS` without a
/// connection the page says the server is not answering since then; "try now" skips the
/// wait; a connection that opens ends it.
#[tokio::test(start_paused = true)]
async fn a_run_of_failures_becomes_unreachable_and_try_now_skips_the_wait() {
    with_engine(PatternKind::PushOps, Transport::Sse, |client, fake| async move {
        fake.report(0, LinkEvent::Opened);
        settle().await;
        let first = now_ms();
        fake.report(0, LinkEvent::Failed);
        settle().await;
        // Every attempt fails as it opens.
        let deadline = first + app::sync::connection::UNREACHABLE_AFTER_MS + 1_000;
        while now_ms() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            settle().await;
            let last = fake.links() - 1;
            if !fake.closed(last) && client.conn.get_untracked() == Conn::Connecting {
                fake.report(last, LinkEvent::Failed);
                settle().await;
            }
        }
        let trouble = client.trouble.get_untracked().expect("failing");
        assert_eq!(trouble.since, first, "since the first failure of the run");
        assert!(trouble.failures >= 5, "{trouble:?}");
        match client.connection(now_ms()) {
            Connection::Unreachable { since, in_ms: Some(in_ms) } => assert!(since == first && in_ms > 0),
            other => panic!("{other:?}"),
        }

        let links = fake.links();
        client.retry_now();
        settle().await;
        assert_eq!(fake.links(), links + 1, "try now opens a connection at once");
        fake.report(links, LinkEvent::Opened);
        settle().await;
        assert_eq!(client.connection(now_ms()), Connection::Live);
        assert_eq!(client.trouble.get_untracked(), None);
    })
    .await;
}

/// The fake platform's clock.
fn now_ms() -> i64 {
    Fake::new().now_ms()
}

/// The inspector counts everything a pattern causes, once: a poke and the pull it makes
/// (its answer's bytes), a gap's backfill (its answer's bytes) with each frame it read
/// listed beside the request but not counted again.
#[tokio::test(start_paused = true)]
async fn the_inspector_counts_pulls_and_backfills_once() {
    with_engine(PatternKind::PokePull, Transport::Sse, |client, fake| async move {
        fake.report(0, LinkEvent::Opened);
        fake.add("t1");
        fake.report(0, LinkEvent::Frame(fake.frame(PatternKind::PokePull, 1), 40));
        tokio::time::sleep(Duration::from_millis(100)).await;
        settle().await;
        let pulled = serde_json::to_string(&fake.0.borrow().server.states[1]).unwrap().len();
        let wire = client.wire.get_untracked();
        assert_eq!(client.state.get_untracked().seq, 1);
        assert_eq!((wire.frames, wire.requests, wire.bytes), (1, 1, 40 + pulled as u64), "the pull is counted");
        let kinds: Vec<&str> = wire.recent.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, ["pull", "poke"], "newest first");
        assert_eq!(wire.latencies.len(), 1, "the change's latency is taken when its pull applied it");
    })
    .await;

    with_engine(PatternKind::PushOps, Transport::Sse, |client, fake| async move {
        fake.report(0, LinkEvent::Opened);
        for seq in 1..=3 {
            fake.add(&format!("t{seq}"));
        }
        fake.report(0, LinkEvent::Frame(fake.frame(PatternKind::PushOps, 1), 100));
        fake.report(0, LinkEvent::Frame(fake.frame(PatternKind::PushOps, 3), 100));
        settle().await;
        assert_eq!(client.state.get_untracked().seq, 3);
        let page = {
            let world = fake.0.borrow();
            let server = &world.server;
            let frames = server.records[1..]
                .iter()
                .map(|r| PatternKind::PushOps.frame_for(r, &server.states[r.seq as usize]))
                .collect();
            FramesPage { head: 3, frames, epoch: "e".into() }
        };
        let answer = serde_json::to_string(&page).unwrap().len() as u64;
        let wire = client.wire.get_untracked();
        assert_eq!(wire.bytes, 100 + 100 + answer, "two stream frames and one backfill answer");
        assert_eq!((wire.requests, wire.frames), (1, 4), "the backfilled frames are listed");
        let carried: Vec<Option<u64>> = wire.recent.iter().filter(|e| e.carried).map(|e| e.seq).collect();
        assert_eq!(carried, [Some(3), Some(2)]);
    })
    .await;
}

/// A delete waits `UNDO_MS` before it goes: undone meanwhile it never reaches the server;
/// otherwise it goes when the time is up, once.
#[tokio::test(start_paused = true)]
async fn a_delete_can_be_undone_until_it_goes() {
    with_engine(PatternKind::PushOps, Transport::Sse, |client, fake| async move {
        fake.report(0, LinkEvent::Opened);
        fake.add("keep");
        fake.report(0, LinkEvent::Frame(fake.frame(PatternKind::PushOps, 1), 100));
        settle().await;
        let delete = || Command::DeleteTodo { id: 1, expected_version: None };

        client.delete_with_undo(delete());
        settle().await;
        assert!(client.shown.get_untracked().state.todos.is_empty(), "gone from the page at once");
        tokio::time::sleep(Duration::from_millis(u64::from(app::sync::client::UNDO_MS) - 100)).await;
        settle().await;
        assert!(fake.0.borrow().posted.is_empty(), "not sent while it can be undone");
        client.cancel_delete(1);
        settle().await;
        assert_eq!(client.shown.get_untracked().state.todos.len(), 1, "undone: back on the page");
        tokio::time::sleep(Duration::from_secs(10)).await;
        settle().await;
        assert!(fake.0.borrow().posted.is_empty(), "and never sent");

        client.delete_with_undo(delete());
        tokio::time::sleep(Duration::from_millis(u64::from(app::sync::client::UNDO_MS) + 10)).await;
        settle().await;
        assert_eq!(fake.0.borrow().posted.len(), 1, "sent when its time was up");
        client.cancel_delete(1);
        settle().await;
        assert!(fake.0.borrow().server.states.last().unwrap().todos.is_empty(), "too late to undo: deleted");
    })
    .await;
}

/// Makes `client` a tab named `name`, as the browser's start does.
fn named(client: BoardClient, name: &str) {
    client.me.set(Some(Identity { client: "c1".into(), person: "p1".into(), name: name.into() }));
}

/// Delivers change `seq` of the fake server on link `n`.
fn deliver(fake: &Fake, n: usize, seq: u64) {
    fake.report(n, LinkEvent::Frame(fake.frame(PatternKind::PushOps, seq), 100));
}

/// This tab adds "tea" and renames it "coffee", and both are on the board (seqs 1 and 2).
async fn tea_then_coffee(client: BoardClient, fake: &Fake) {
    fake.report(0, LinkEvent::Opened);
    client.send(Command::AddTodo { title: "tea".into(), sprint_id: None });
    settle().await;
    deliver(fake, 0, 1);
    client.send(Command::RenameTodo { id: 1, title: "coffee".into(), expected_version: None });
    settle().await;
    deliver(fake, 0, 2);
    settle().await;
}

/// Undo is a new command, the domain's inverse of the answer's step, sent (with the tab's
/// actor) like any other; redo inverts the undo; the buttons say what each would do.
#[tokio::test(start_paused = true)]
async fn undo_and_redo_are_new_commands_sent_with_the_tabs_name() {
    with_engine(PatternKind::PushOps, Transport::Sse, |client, fake| async move {
        named(client, "Ada");
        tea_then_coffee(client, &fake).await;
        let shown = client.undo.get_untracked();
        assert_eq!(shown.undo.as_deref(), Some("renaming “tea” to “coffee”"));
        assert_eq!(shown.redo, None);

        client.undo_last();
        settle().await;
        assert_eq!(client.shown.get_untracked().state.todos[0].title, "tea", "shown at once, like any command");
        deliver(&fake, 0, 3);
        settle().await;
        assert_eq!(fake.0.borrow().server.states[3].todos[0].title, "tea", "the undo is change 3");
        let shown = client.undo.get_untracked();
        assert_eq!(shown.undo.as_deref(), Some("adding “tea”"));
        assert_eq!(shown.redo.as_deref(), Some("renaming “tea” to “coffee”"));

        client.redo_last();
        settle().await;
        deliver(&fake, 0, 4);
        settle().await;
        assert_eq!(client.state.get_untracked().todos[0].title, "coffee");
        assert_eq!(client.undo.get_untracked().redo, None);
        // Undo all the way: the add goes too, and the board is empty again.
        for seq in [5, 6] {
            client.undo_last();
            settle().await;
            deliver(&fake, 0, seq);
            settle().await;
        }
        assert!(client.state.get_untracked().todos.is_empty());
        assert_eq!(client.undo.get_untracked().undo, None);
        let actors = fake.0.borrow().actors.clone();
        assert_eq!(actors.len(), 6);
        assert!(actors.iter().all(|a| a.as_deref() == Some("Ada")), "every command says who sent it: {actors:?}");
    })
    .await;
}

/// An undo pressed before the change it takes back is on the board waits for it, rather
/// than taking back an older change.
#[tokio::test(start_paused = true)]
async fn an_undo_pressed_before_the_answer_waits_for_it() {
    with_engine(PatternKind::PushOps, Transport::Sse, |client, fake| async move {
        fake.report(0, LinkEvent::Opened);
        client.send(Command::AddTodo { title: "tea".into(), sprint_id: None });
        settle().await;
        deliver(&fake, 0, 1);
        settle().await;
        fake.0.borrow_mut().offline = true;
        client.send(Command::RenameTodo { id: 1, title: "coffee".into(), expected_version: None });
        client.undo_last();
        settle().await;
        assert_eq!(fake.0.borrow().server.records.len(), 1, "nothing reached the server yet");
        fake.0.borrow_mut().offline = false;
        tokio::time::sleep(Duration::from_secs(2)).await;
        settle().await;
        deliver(&fake, 0, 2);
        settle().await;
        // The rename landed, then the undo that waited for it: renamed back, not deleted.
        deliver(&fake, 0, 3);
        settle().await;
        let state = client.state.get_untracked();
        assert_eq!((state.seq, state.todos.len(), state.todos[0].title.as_str()), (3, 1, "tea"));
    })
    .await;
}

/// Somebody else renamed the todo after my rename: my undo would overwrite theirs, so it
/// is refused, saying what they did, and nothing is sent.
#[tokio::test(start_paused = true)]
async fn an_undo_over_someone_elses_change_is_refused_with_what_they_did() {
    with_engine(PatternKind::PushOps, Transport::Sse, |client, fake| async move {
        tea_then_coffee(client, &fake).await;
        fake.commit(&Command::RenameTodo { id: 1, title: "their title".into(), expected_version: None });
        deliver(&fake, 0, 3);
        settle().await;
        client.undo_last();
        settle().await;
        let blocked = client.undo_blocked.get_untracked().expect("refused");
        assert_eq!((blocked.todo, blocked.what.as_str()), (1, "renamed it to “their title”"));
        assert_eq!(fake.0.borrow().posted.len(), 2, "no undo was sent");
        assert_eq!(client.state.get_untracked().todos[0].title, "their title");
    })
    .await;
}

/// Offline while three changes were made elsewhere: back online, the page says it missed
/// three, from the seq it had to the head it caught up to.
#[tokio::test(start_paused = true)]
async fn the_page_says_how_many_changes_it_missed_while_offline_or_hidden() {
    with_engine(PatternKind::PushOps, Transport::Sse, |client, fake| async move {
        fake.report(0, LinkEvent::Opened);
        fake.add("before");
        deliver(&fake, 0, 1);
        settle().await;
        fake.network(false);
        settle().await;
        for title in ["a", "b", "c"] {
            fake.add(title);
        }
        fake.network(true);
        settle().await;
        assert_eq!(fake.links(), 2, "reconnected");
        fake.report(1, LinkEvent::Opened);
        let hello = Frame::Hello { replica: "r".into(), head: 4, epoch: String::new() };
        fake.report(1, LinkEvent::Frame(hello, 50));
        settle().await;
        assert_eq!(client.missed.get_untracked(), None, "not caught up yet");
        for seq in 2..=4 {
            deliver(&fake, 1, seq);
        }
        settle().await;
        let missed = client.missed.get_untracked().expect("the banner");
        assert_eq!((missed.from, missed.to, missed.count), (1, 4, 3));

        // In the background: what it applied unseen is missed too, said when it is back.
        client.missed.set(None);
        fake.visible(false);
        fake.add("d");
        deliver(&fake, 1, 5);
        settle().await;
        assert_eq!(client.missed.get_untracked(), None);
        fake.visible(true);
        settle().await;
        let missed = client.missed.get_untracked().expect("the banner again");
        assert_eq!((missed.from, missed.to, missed.count), (4, 5, 1));
    })
    .await;
}

/// Runs `test` with two tabs of one browser on one board, each a client with its engine on
/// the same fake server; tab 0 opened first, so it holds the leader lock and sends. The
/// test gets tab 0's engine to close it.
async fn with_two_tabs<F, Fut>(test: F)
where
    F: FnOnce([(BoardClient, Fake); 2], tokio::task::JoinHandle<()>) -> Fut,
    Fut: Future<Output = ()>,
{
    in_page(async move {
        let fake = Fake::new();
        let tabs = [
            (client(PatternKind::PushOps, Transport::Sse), fake.clone()),
            (client(PatternKind::PushOps, Transport::Sse), fake.tab(1)),
        ];
        let first = tokio::task::spawn_local(app::sync::engine::start(tabs[0].0, tabs[0].1.clone()));
        settle().await;
        tokio::task::spawn_local(app::sync::engine::start(tabs[1].0, tabs[1].1.clone()));
        settle().await;
        assert_eq!(fake.links(), 2, "each tab has its own connection");
        test(tabs, first).await;
    })
    .await;
}

fn add_todo(title: &str) -> Command {
    Command::AddTodo { title: title.into(), sprint_id: None }
}

fn titles_on_server(fake: &Fake) -> Vec<String> {
    fake.0.borrow().server.states.last().unwrap().todos.iter().map(|t| t.title.clone()).collect()
}

#[tokio::test(start_paused = true)]
async fn tabs_show_one_outbox_and_only_the_leader_sends_it_in_order() {
    with_two_tabs(|[(a, fake), (b, _)], _| async move {
        fake.0.borrow_mut().offline = true;
        a.send(add_todo("a1"));
        a.send(add_todo("a2"));
        tokio::time::sleep(Duration::from_millis(10)).await;
        b.send(add_todo("b1"));
        settle().await;
        for tab in [a, b] {
            assert_eq!(tab.outbox.get_untracked().waiting(), 3, "every tab holds every tab's commands");
            assert_eq!(tab.shown.get_untracked().state.todos.len(), 3, "and shows them");
        }
        assert!((a.sends.get_untracked(), b.sends.get_untracked()) == (true, false), "tab 0 holds the lock");
        // Offline: the leader tried (and failed); the other tab never sends.
        assert!(fake.0.borrow().attempts.iter().all(|(tab, _)| *tab == 0));

        // Back online: the leader sends the three, in the order they were made.
        fake.0.borrow_mut().offline = false;
        fake.report(0, LinkEvent::Opened);
        tokio::time::sleep(Duration::from_secs(1)).await;
        settle().await;
        assert_eq!(titles_on_server(&fake), ["a1", "a2", "b1"], "each applied once, in order");
        assert!(fake.0.borrow().attempts.iter().all(|(tab, _)| *tab == 0), "tab 1 sent nothing");
        // Each tab settles them as its own stream brings the changes.
        for (n, tab) in [a, b].into_iter().enumerate() {
            assert_eq!(tab.outbox.get_untracked().waiting(), 0, "tab {n} heard the answers");
            fake.report(n, LinkEvent::Opened);
            for seq in 1..=3 {
                fake.report(n, LinkEvent::Frame(fake.frame(PatternKind::PushOps, seq), 100));
            }
        }
        settle().await;
        for tab in [a, b] {
            assert!(tab.outbox.get_untracked().is_empty());
            assert_eq!(tab.shown.get_untracked().state.todos.len(), 3, "shown once, not twice");
        }
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn when_the_sending_tab_closes_another_sends_the_rest_with_the_same_keys() {
    with_two_tabs(|[(a, fake), (b, _)], first| async move {
        fake.report(0, LinkEvent::Opened);
        fake.report(1, LinkEvent::Opened);
        // The server commits a1, but its answer is still on its way when tab 0 closes.
        fake.0.borrow_mut().answer_delay_ms = 5_000;
        a.send(add_todo("a1"));
        settle().await;
        assert_eq!(titles_on_server(&fake), ["a1"]);
        fake.0.borrow_mut().offline = true;
        b.send(add_todo("b1"));
        settle().await;
        assert_eq!(b.outbox.get_untracked().waiting(), 2, "a1 unanswered, b1 made offline");
        let keys: Vec<String> = b.outbox.get_untracked().iter().map(|p| p.key.clone()).collect();

        // Tab 0 goes: its lock passes to tab 1, which sends both again, with their keys.
        fake.0.borrow_mut().offline = false;
        fake.0.borrow_mut().answer_delay_ms = 0;
        assert!(!b.sends.get_untracked());
        first.abort();
        settle().await;
        assert!(b.sends.get_untracked(), "tab 1 took over");
        tokio::time::sleep(Duration::from_secs(1)).await;
        settle().await;
        let by_b: Vec<String> =
            fake.0.borrow().attempts.iter().filter(|(tab, _)| *tab == 1).map(|(_, k)| k.clone()).collect();
        assert_eq!(by_b, keys, "tab 1 sent a1 then b1, with their first keys");
        assert_eq!(titles_on_server(&fake), ["a1", "b1"], "a1 applied once although sent twice");
        assert_eq!(b.outbox.get_untracked().waiting(), 0);
        assert!(steps(b).contains(&NoteStep::Resend), "the timeline says it took over");
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_held_delete_is_held_in_every_tab_and_goes_once_its_time_is_up() {
    with_two_tabs(|[(a, fake), (b, _)], _| async move {
        fake.add("keep");
        for n in 0..2 {
            fake.report(n, LinkEvent::Opened);
            fake.report(n, LinkEvent::Frame(fake.frame(PatternKind::PushOps, 1), 100));
        }
        settle().await;
        // Tab 1 deletes, and takes it back: tab 0 (which sends) never sent it.
        b.delete_with_undo(Command::DeleteTodo { id: 1, expected_version: None });
        settle().await;
        assert!(a.shown.get_untracked().state.todos.is_empty(), "gone from the other tab too");
        b.cancel_delete(1);
        settle().await;
        assert_eq!(a.shown.get_untracked().state.todos.len(), 1, "back in the other tab");
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert!(fake.0.borrow().attempts.is_empty());

        b.delete_with_undo(Command::DeleteTodo { id: 1, expected_version: None });
        tokio::time::sleep(Duration::from_millis(u64::from(app::sync::client::UNDO_MS) + 10)).await;
        settle().await;
        assert_eq!(fake.0.borrow().attempts.len(), 1, "sent once, by the leader, when the hold ended");
        assert!(titles_on_server(&fake).is_empty());
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn an_overdue_command_waits_for_the_person_in_every_tab() {
    with_two_tabs(|[(a, fake), (b, _)], _| async move {
        for tab in [a, b] {
            tab.max_age_ms.set_value(60_000);
        }
        let hello = |epoch: &str| Frame::Hello { replica: "r".into(), head: 0, epoch: epoch.into() };
        fake.report(0, LinkEvent::Frame(hello("e1"), 40));
        fake.report(1, LinkEvent::Frame(hello("e1"), 40));
        settle().await;
        fake.0.borrow_mut().offline = true;
        b.send(add_todo("written an hour ago"));
        tokio::time::sleep(Duration::from_millis(5)).await;
        a.send(add_todo("also old"));
        tokio::time::sleep(Duration::from_secs(3_600)).await;
        settle().await;

        // Back after an hour: nothing goes by itself; both tabs list both, with what each would do.
        fake.0.borrow_mut().offline = false;
        a.retry_now();
        fake.report(0, LinkEvent::Opened);
        fake.report(1, LinkEvent::Opened);
        settle().await;
        assert!(fake.0.borrow().posted.is_empty(), "not sent silently");
        for tab in [a, b] {
            let listed = tab.overdue.get_untracked();
            let outcomes: Vec<_> = listed.iter().map(|o| o.outcome.clone()).collect();
            assert_eq!(outcomes, [Ok("added “written an hour ago”".to_string()), Ok("added “also old”".to_string())]);
        }
        // The person sends the first from tab 1 and discards the second from tab 0.
        let keys: Vec<String> = b.overdue.get_untracked().iter().map(|o| o.key.clone()).collect();
        b.send_overdue(keys[0].clone());
        a.discard(keys[1].clone());
        tokio::time::sleep(Duration::from_secs(1)).await;
        settle().await;
        assert_eq!(titles_on_server(&fake), ["written an hour ago"]);
        for tab in [a, b] {
            assert!(tab.overdue.get_untracked().is_empty());
            assert_eq!(tab.outbox.get_untracked().waiting(), 0, "the discarded one is gone everywhere");
        }

        // A board replaced meanwhile (another epoch): a command made before is overdue too.
        fake.0.borrow_mut().offline = true;
        a.send(add_todo("for the old board"));
        settle().await;
        fake.0.borrow_mut().offline = false;
        fake.report(0, LinkEvent::Frame(hello("e2"), 40));
        settle().await;
        assert_eq!(fake.0.borrow().posted.len(), 1, "still only the approved one");
        assert_eq!(a.overdue.get_untracked()[0].why, board_core::optimistic::Overdue::OtherEpoch);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_page_opened_with_an_older_board_shows_the_browsers_copy_until_it_is_live() {
    in_page(async {
        let fake = Fake::new();
        fake.add("one");
        fake.add("two");
        // What an earlier page left: the board at seq 2 and a command it queued offline.
        let kept = fake.0.borrow().server.states[2].clone();
        fake.0.borrow_mut().stored_board = Some(Kept { state: kept, epoch: Some("e".into()), saved_at: 0 });
        fake.0.borrow_mut().stored_outbox.push("queued-key".into(), add_todo("queued"));
        // This page came with an empty board (the app's shell, opened with no network).
        let page = client(PatternKind::PushOps, Transport::Sse);
        tokio::task::spawn_local(app::sync::engine::start(page, fake.clone()));
        settle().await;
        assert_eq!(page.state.get_untracked().seq, 2, "the browser's copy is shown");
        assert_eq!(page.local_copy.get_untracked().map(|copy| copy.seq), Some(2), "marked as such");
        assert_eq!(page.shown.get_untracked().state.todos.len(), 3, "with the queued command on top");
        let from = fake.0.borrow().links[0].from.clone();
        assert_eq!(from, Position { seq: 2, epoch: Some("e".into()) }, "it catches up from the copy's position");
        assert_eq!(fake.0.borrow().posted, ["queued-key"], "the queued command goes with its key");

        fake.report(0, LinkEvent::Opened);
        settle().await;
        assert_eq!(page.local_copy.get_untracked(), None, "live: no longer only the local copy");
        // What the engine confirms from now on is the browser's next copy.
        fake.report(0, LinkEvent::Frame(fake.frame(PatternKind::PushOps, 3), 100));
        settle().await;
        let saved = fake.0.borrow().stored_board.clone().unwrap();
        assert_eq!((saved.state.seq, saved.state.todos.len()), (3, 3));
        assert!(page.outbox.get_untracked().is_empty() && fake.0.borrow().stored_outbox.is_empty());
    })
    .await;
}

/// A traced tab's commands carry a sampled `traceparent` named by their key; an untraced
/// tab's carry none. A frame that names a trace is listed with when it arrived and was
/// applied, marked as this browser's own when its key is its trace, and reported to the
/// server; a frame without one is neither.
#[tokio::test(start_paused = true)]
async fn a_traced_tab_sends_its_trace_and_reports_each_traced_apply() {
    with_engine(PatternKind::PushOps, Transport::Sse, |client, fake| async move {
        fake.report(0, LinkEvent::Opened);
        client.send(add_todo("untraced"));
        settle().await;
        client.traced.set(true);
        client.send(add_todo("traced"));
        settle().await;
        let traceparents = fake.0.borrow().traceparents.clone();
        let posted = fake.0.borrow().posted.clone();
        assert_eq!(traceparents.len(), 2);
        assert_eq!(traceparents[0], None, "an untraced tab sends no trace context");
        assert_eq!(traceparents[1], Some(format!("00-{}-{}-01", posted[1], &posted[1][16..])));

        // The server's frames: the first change untraced, the second with its trace id.
        fake.report(0, LinkEvent::Frame(fake.frame(PatternKind::PushOps, 1), 100));
        let frame = fake.frame(PatternKind::PushOps, 2);
        let key = frame.key().map(str::to_owned);
        let traced = frame.tagged(key, Some(posted[1].clone()));
        fake.report(0, LinkEvent::Frame(traced, 140));
        settle().await;
        assert_eq!(client.state.get_untracked().seq, 2);
        let traces = client.traces.get_untracked();
        let seen: Vec<_> = traces.iter().collect();
        assert_eq!(seen.len(), 1, "only the traced change is listed");
        assert_eq!((seen[0].trace.as_str(), seen[0].seq, seen[0].mine), (posted[1].as_str(), 2, true));
        assert!(seen[0].received <= seen[0].applied);
        let reports = fake.0.borrow().applies_reported.clone();
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].0, posted[1]);
        assert_eq!(
            (reports[0].1.seq, reports[0].1.transport, reports[0].1.pattern),
            (2, Transport::Sse, PatternKind::PushOps)
        );
    })
    .await;
}
