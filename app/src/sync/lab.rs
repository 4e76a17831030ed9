//! The fault lab, client side: a [`Platform`] that wraps the real one and misbehaves on
//! request, for this tab only, so a learner can break the connection on purpose and watch
//! the engine recover.
//!
//! It sits where the network would: between the engine and the world. The engine does not
//! know it is there; it recovers with the same code a real fault exercises (a gap found and
//! backfilled, a reconnect with backoff, a command resent with its Idempotency-Key). The
//! lab notes each fault it injects in the wire inspector's timeline, and the engine notes
//! each step it takes, so the two read as one story.
//!
//! The faults ([`Fault`]):
//!
//! * **latency**: whatever a link reports waits a fixed delay plus a random jitter before
//!   the engine sees it, in order (a stream over TCP is delayed, never reordered); every
//!   request (a command, a pull, a backfill, a command up the WebSocket) waits as long
//!   before it goes.
//! * **drop**: the next N data frames are lost. The engine finds out at the next frame (a
//!   seq jumps) or heartbeat (its head is ahead) and backfills; a self-contained pattern
//!   needs nothing but the next frame.
//! * **cut**: the open connection fails, with whatever was on its way; for S seconds no
//!   connection opens and every request fails as offline. When it ends the lab says
//!   "online", as the browser does when a network comes back.
//! * **pause**: what links report is held, in order, until processing resumes.
//!
//! With no fault set, everything passes straight through.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::rc::{Rc, Weak};

use futures::channel::mpsc;
use futures::StreamExt;
use leptos::prelude::*;

use super::platform::{
    HttpError, Link, LinkEvent, Metered, NetworkChange, Opening, Outgoing, Platform, Report, Shared,
};
use super::wire::{NoteStep, WireLog};
use board_core::api::{CommandAnswer, FramesPage, Position};
use board_core::domain::BoardState;
use board_core::optimistic::Outbox;
use board_core::patterns::{Frame, PatternKind};
use board_core::presence::Signal;

/// A fault the page asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Frames and requests wait `fixed_ms` plus up to `jitter_ms` (random). Zeros: off.
    Latency { fixed_ms: u32, jitter_ms: u32 },
    /// The next `n` data frames are lost (0 stops dropping).
    DropFrames(u32),
    /// The connection drops and nothing gets through for `seconds`.
    Cut { seconds: u32 },
    /// Hold (`true`) or hand over (`false`) what links report.
    Pause(bool),
    /// Hold what links report for `ms`, then hand it over.
    PauseFor { ms: u32 },
}

/// The lab's settings as the page shows them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabState {
    pub fixed_ms: u32,
    pub jitter_ms: u32,
    /// Data frames still to be dropped.
    pub drop_next: u32,
    /// Until when (Unix ms) the connection stays cut.
    pub cut_until: Option<i64>,
    pub paused: bool,
    /// Reports held by latency or a pause, not yet handed to the engine.
    pub held: usize,
}

/// One click's worth of faults (the compare page's buttons, one per pane).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    DropThree,
    CutThreeSeconds,
    SlowNetwork,
    PauseTwoSeconds,
}

impl Preset {
    pub const ALL: [Preset; 4] =
        [Preset::DropThree, Preset::CutThreeSeconds, Preset::SlowNetwork, Preset::PauseTwoSeconds];

    /// The name the page marks it with (`data-preset`).
    pub fn as_str(self) -> &'static str {
        match self {
            Preset::DropThree => "drop-3",
            Preset::CutThreeSeconds => "cut-3s",
            Preset::SlowNetwork => "slow",
            Preset::PauseTwoSeconds => "pause-2s",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Preset::DropThree => "drop 3 frames",
            Preset::CutThreeSeconds => "cut 3 s",
            Preset::SlowNetwork => "500 ± 250 ms",
            Preset::PauseTwoSeconds => "pause 2 s",
        }
    }

    /// The fault it injects (the slow network stays until changed; the others end by
    /// themselves).
    pub fn fault(self) -> Fault {
        match self {
            Preset::DropThree => Fault::DropFrames(3),
            Preset::CutThreeSeconds => Fault::Cut { seconds: 3 },
            Preset::SlowNetwork => Fault::Latency { fixed_ms: 500, jitter_ms: 250 },
            Preset::PauseTwoSeconds => Fault::PauseFor { ms: 2000 },
        }
    }
}

/// A sender of faults to a tab's lab (the client holds one).
pub type LabInbox = mpsc::UnboundedSender<Fault>;
/// Where the lab takes the page's faults from.
pub type LabFaults = mpsc::UnboundedReceiver<Fault>;

/// What the lab writes on the page: its settings (the lab panel reads them) and notes in
/// the wire log's timeline. Signals, not the client: the lab depends on nothing that
/// depends on it.
#[derive(Clone, Copy)]
pub struct LabShown {
    pub settings: RwSignal<LabState>,
    pub wire: RwSignal<WireLog>,
}

/// The platform `P` with the lab in front of it.
pub struct Faulty<P: Platform> {
    bench: Rc<Bench<P>>,
}

/// The lab's state, shared by the platform (which the engine owns) and the task that takes
/// the page's faults.
struct Bench<P: Platform> {
    platform: Rc<P>,
    shown: LabShown,
    state: RefCell<LabState>,
    /// What links reported, on its way to the engine, oldest first.
    line: RefCell<VecDeque<Held>>,
    /// A task is handing the line over.
    pumping: Cell<bool>,
    /// When the newest entry of the line is due: later ones are never due earlier.
    last_due: Cell<i64>,
    /// The links opened so far; a cut loses the reports of every link up to this one.
    links: Cell<u64>,
    /// The newest link cut: what it or an older one reports is lost.
    cut_link: Cell<u64>,
    /// The newest link and the engine's callback for it (a cut tells it `Failed`).
    current: RefCell<Option<(u64, Report)>>,
    /// The engine's network callbacks: the end of a cut says "online" to them.
    online: RefCell<Vec<WeakNetworkChange>>,
}

/// An engine's network callback, held without keeping the engine alive.
type WeakNetworkChange = Weak<dyn Fn(bool)>;

/// One report on its way to the engine.
struct Held {
    due: i64,
    link: u64,
    report: Report,
    event: LinkEvent,
}

impl<P: Platform> Faulty<P> {
    /// Puts the lab in front of `platform`: it takes the page's `faults` and shows what it
    /// does on `shown` (`BoardClient::open_lab` gives both).
    pub fn new(platform: P, (shown, mut faults): (LabShown, LabFaults)) -> Self {
        let bench = Rc::new(Bench {
            platform: Rc::new(platform),
            shown,
            state: RefCell::default(),
            line: RefCell::default(),
            pumping: Cell::new(false),
            last_due: Cell::new(0),
            links: Cell::new(0),
            cut_link: Cell::new(0),
            current: RefCell::new(None),
            online: RefCell::default(),
        });
        let taker = bench.clone();
        bench.platform.spawn(async move {
            while let Some(fault) = faults.next().await {
                taker.apply(fault);
            }
        });
        Faulty { bench }
    }
}

impl<P: Platform> Bench<P> {
    fn note(&self, step: NoteStep, text: impl Into<String>) {
        let at = self.platform.now_ms();
        self.shown.wire.update(|w| w.note(at, step, text));
    }

    /// Shows the settings on the page.
    fn publish(&self) {
        let mut state = self.state.borrow().clone();
        state.held = self.line.borrow().len();
        self.shown.settings.set(state);
    }

    fn cut(&self) -> bool {
        self.state.borrow().cut_until.is_some_and(|until| until > self.platform.now_ms())
    }

    /// A latency drawn for one report or request.
    fn latency(&self) -> u32 {
        let state = self.state.borrow();
        state.fixed_ms + (self.platform.random() * f64::from(state.jitter_ms)) as u32
    }

    fn apply(self: &Rc<Self>, fault: Fault) {
        match fault {
            Fault::Latency { fixed_ms, jitter_ms } => {
                {
                    let mut state = self.state.borrow_mut();
                    (state.fixed_ms, state.jitter_ms) = (fixed_ms, jitter_ms);
                }
                let text = match (fixed_ms, jitter_ms) {
                    (0, 0) => "latency off".to_owned(),
                    (fixed, 0) => format!("frames and requests now wait {fixed} ms"),
                    (fixed, jitter) => format!("frames and requests now wait {fixed} ms + up to {jitter} ms"),
                };
                self.note(NoteStep::Latency, text);
            }
            Fault::DropFrames(n) => {
                self.state.borrow_mut().drop_next = n;
                self.note(NoteStep::Drop, format!("the next {n} data frame(s) will be lost"));
            }
            Fault::Cut { seconds } => self.start_cut(seconds),
            Fault::Pause(true) => {
                self.state.borrow_mut().paused = true;
                self.note(NoteStep::Pause, "frame processing paused: what arrives is held");
            }
            Fault::Pause(false) => {
                self.state.borrow_mut().paused = false;
                let held = self.line.borrow().len();
                self.note(NoteStep::Resume, format!("frame processing resumed: {held} held report(s) handed over"));
                self.pump();
            }
            Fault::PauseFor { ms } => {
                self.apply(Fault::Pause(true));
                let bench = self.clone();
                self.platform.spawn(async move {
                    bench.platform.sleep(ms).await;
                    if bench.state.borrow().paused {
                        bench.apply(Fault::Pause(false));
                    }
                });
            }
        }
        self.publish();
    }

    /// Fails the open connection (losing what was on its way) and refuses the network for
    /// `seconds`; then says "online".
    fn start_cut(self: &Rc<Self>, seconds: u32) {
        let until = self.platform.now_ms() + i64::from(seconds) * 1000;
        self.state.borrow_mut().cut_until = Some(until);
        self.note(NoteStep::Cut, format!("connection cut for {seconds} s: no frames, every request fails"));
        let current = self.current.borrow_mut().take();
        if let Some((link, report)) = current {
            self.cut_link.set(link);
            self.line.borrow_mut().retain(|held| held.link > link);
            report(LinkEvent::Failed);
        }
        let bench = self.clone();
        self.platform.spawn(async move {
            bench.platform.sleep(seconds * 1000).await;
            // A later cut moved the end: that one's timer ends it.
            if bench.state.borrow().cut_until != Some(until) {
                return;
            }
            bench.state.borrow_mut().cut_until = None;
            bench.note(NoteStep::Restored, "the network is back");
            bench.publish();
            let online: Vec<NetworkChange> = bench.online.borrow().iter().filter_map(Weak::upgrade).collect();
            for change in online {
                change(true);
            }
        });
    }

    /// A link reported `event`: lost, held, or handed over.
    fn arrive(self: &Rc<Self>, link: u64, report: &Report, event: LinkEvent) {
        if link <= self.cut_link.get() {
            return;
        }
        if let LinkEvent::Frame(frame, _) = &event {
            if let Some(seq) = frame.seq() {
                let dropping = self.state.borrow().drop_next > 0;
                if dropping {
                    self.state.borrow_mut().drop_next -= 1;
                    self.note(NoteStep::Drop, format!("lost {} frame seq {seq}", frame.kind()));
                    return self.publish();
                }
            }
        }
        let latency = self.latency();
        let paused = self.state.borrow().paused;
        if latency == 0 && !paused && self.line.borrow().is_empty() {
            return report(event);
        }
        let due = (self.platform.now_ms() + i64::from(latency)).max(self.last_due.get());
        self.last_due.set(due);
        self.line.borrow_mut().push_back(Held { due, link, report: report.clone(), event });
        if paused {
            self.publish();
        }
        self.pump();
    }

    /// Hands the line over as each report falls due, in order, unless paused.
    fn pump(self: &Rc<Self>) {
        if self.pumping.replace(true) {
            return;
        }
        let bench = self.clone();
        self.platform.spawn(async move {
            loop {
                let due = bench.line.borrow().front().map(|held| held.due);
                let Some(due) = due.filter(|_| !bench.state.borrow().paused) else { break };
                let wait = due - bench.platform.now_ms();
                if wait > 0 {
                    bench.platform.sleep(wait as u32).await;
                    // A cut or a pause may have changed the line meanwhile: look again.
                    continue;
                }
                let held = bench.line.borrow_mut().pop_front();
                if let Some(held) = held {
                    (held.report)(held.event);
                }
            }
            bench.pumping.set(false);
            bench.publish();
        });
    }

    /// Waits before a request goes, or fails it while the connection is cut.
    async fn request(&self) -> Result<(), HttpError> {
        let offline = || HttpError::Network("the fault lab cut the connection".into());
        if self.cut() {
            return Err(offline());
        }
        let latency = self.latency();
        if latency > 0 {
            self.platform.sleep(latency).await;
            if self.cut() {
                return Err(offline());
            }
        }
        Ok(())
    }
}

/// A link behind the lab: commands up it wait the lab's latency too.
struct LabLink<P: Platform> {
    inner: Rc<RefCell<Option<Box<dyn Link>>>>,
    bench: Rc<Bench<P>>,
}

impl<P: Platform> Link for LabLink<P> {
    fn send_command(&self, request_id: &str, outgoing: &Outgoing) -> bool {
        let latency = self.bench.latency();
        if latency == 0 {
            return self.inner.borrow().as_ref().is_some_and(|link| link.send_command(request_id, outgoing));
        }
        let carries = self.inner.borrow().as_ref().is_some_and(|link| link.carries_commands());
        if carries {
            let (inner, platform) = (self.inner.clone(), self.bench.platform.clone());
            let (request_id, outgoing) = (request_id.to_owned(), outgoing.clone());
            self.bench.platform.spawn(async move {
                platform.sleep(latency).await;
                // Closed meanwhile: the engine resends what this socket never answered.
                if let Some(link) = inner.borrow().as_ref() {
                    link.send_command(&request_id, &outgoing);
                }
            });
        }
        carries
    }

    fn carries_commands(&self) -> bool {
        self.inner.borrow().as_ref().is_some_and(|link| link.carries_commands())
    }

    fn send_signal(&self, signal: &Signal) -> bool {
        self.inner.borrow().as_ref().is_some_and(|link| link.send_signal(signal))
    }

    fn close(self: Box<Self>) {
        if let Some(link) = self.inner.borrow_mut().take() {
            link.close();
        }
    }
}

impl<P: Platform> Platform for Faulty<P> {
    fn open(&self, opening: Opening, report: Report) -> Option<Box<dyn Link>> {
        let bench = &self.bench;
        if bench.cut() {
            return None;
        }
        let link = bench.links.get() + 1;
        bench.links.set(link);
        *bench.current.borrow_mut() = Some((link, report.clone()));
        let through = bench.clone();
        let wrapped: Report = Rc::new(move |event| through.arrive(link, &report, event));
        let inner = bench.platform.open(opening, wrapped)?;
        Some(Box::new(LabLink { inner: Rc::new(RefCell::new(Some(inner))), bench: bench.clone() }))
    }

    async fn changes(&self, board: &str, from: &Position, pattern: PatternKind) -> Metered<FramesPage> {
        match self.bench.request().await {
            Ok(()) => self.bench.platform.changes(board, from, pattern).await,
            Err(cut) => Metered { answer: Err(cut), cost: None },
        }
    }

    async fn state(&self, board: &str, have: Option<&Position>) -> Metered<Option<BoardState>> {
        match self.bench.request().await {
            Ok(()) => self.bench.platform.state(board, have).await,
            Err(cut) => Metered { answer: Err(cut), cost: None },
        }
    }

    async fn snapshot_at(&self, board: &str, seq: u64, epoch: Option<&str>) -> Metered<BoardState> {
        match self.bench.request().await {
            Ok(()) => self.bench.platform.snapshot_at(board, seq, epoch).await,
            Err(cut) => Metered { answer: Err(cut), cost: None },
        }
    }

    async fn command(&self, board: &str, outgoing: &Outgoing) -> Metered<CommandAnswer> {
        match self.bench.request().await {
            Ok(()) => self.bench.platform.command(board, outgoing).await,
            Err(cut) => Metered { answer: Err(cut), cost: None },
        }
    }

    async fn signal(&self, board: &str, signal: &Signal) -> Metered<()> {
        match self.bench.request().await {
            Ok(()) => self.bench.platform.signal(board, signal).await,
            Err(cut) => Metered { answer: Err(cut), cost: None },
        }
    }

    async fn report_applied(&self, board: &str, trace: &str, report: &board_core::api::Applied) -> Metered<()> {
        match self.bench.request().await {
            Ok(()) => self.bench.platform.report_applied(board, trace, report).await,
            Err(cut) => Metered { answer: Err(cut), cost: None },
        }
    }

    fn letter(&self, frame: Frame) {
        self.bench.platform.letter(frame);
    }

    async fn sleep(&self, ms: u32) {
        self.bench.platform.sleep(ms).await;
    }

    fn random(&self) -> f64 {
        self.bench.platform.random()
    }

    fn now_ms(&self) -> i64 {
        self.bench.platform.now_ms()
    }

    fn spawn(&self, task: impl Future<Output = ()> + 'static) {
        self.bench.platform.spawn(task);
    }

    fn save_outbox(&self, board: &str, outbox: &Outbox) {
        self.bench.platform.save_outbox(board, outbox);
    }

    fn save_board(&self, board: &str, state: &std::sync::Arc<board_core::domain::BoardState>, epoch: Option<&str>) {
        self.bench.platform.save_board(board, state, epoch);
    }

    async fn load_local(&self, board: &str) -> super::platform::LocalCopy {
        self.bench.platform.load_local(board).await
    }

    fn online(&self) -> bool {
        self.bench.platform.online()
    }

    fn on_visibility(&self, change: NetworkChange) -> Box<dyn std::any::Any> {
        self.bench.platform.on_visibility(change)
    }

    fn save_seen(&self, board: &str, seq: u64) {
        self.bench.platform.save_seen(board, seq);
    }

    fn load_seen(&self, board: &str) -> Option<u64> {
        self.bench.platform.load_seen(board)
    }

    fn share(&self, board: &str, change: &Shared) {
        self.bench.platform.share(board, change);
    }

    fn on_shared(&self, board: &str, heard: Rc<dyn Fn(Shared)>) -> Box<dyn std::any::Any> {
        self.bench.platform.on_shared(board, heard)
    }

    fn lead(&self, board: &str, elected: Rc<dyn Fn()>) -> Box<dyn std::any::Any> {
        self.bench.platform.lead(board, elected)
    }

    fn on_network(&self, change: NetworkChange) -> Box<dyn std::any::Any> {
        self.bench.online.borrow_mut().push(Rc::downgrade(&change));
        // The engine keeps the guard: the callback lives as long as it does.
        Box::new((self.bench.platform.on_network(change.clone()), change))
    }
}
