//! The engine: keeps one board current. One loop owns the connection and is the only
//! writer of the board, so a frame, a backfill, a pull and a reconnect can never
//! interleave. Everything reaches it as an [`Input`] on one channel: what the links
//! report, and what the page asks (switch, send). It runs on any [`Platform`]: the
//! browser's, or a fake one in the tests.
//!
//! * Each connection has a generation; what an older one reports is ignored.
//! * A frame goes through [`step`]: apply, skip, backfill the gap from the log, pull
//!   (coalesced: pokes that arrive meanwhile are answered by the same pull), or take a
//!   fresh snapshot after `reset`.
//! * A failed connection is reopened after a jittered, growing delay ([`Backoff`]), from the
//!   applied seq, so the server sends exactly what is missing; coming back online, or the
//!   person's "try now", skips the rest of the delay. When the browser goes offline the
//!   connection is closed at once (an open stream can outlive the network and claim to be
//!   live) and nothing is tried until it is back. The link's state, the network and the run
//!   of failures are kept apart on the client, which tells a person one
//!   [`Connection`](super::connection::Connection) state from them.
//! * Ephemeral frames never touch the board: a `presence` list replaces the last one,
//!   signals and relayed cursors go to the platform's peer mesh; signals the page sends go
//!   up the WebSocket when it is open, else by `POST`, once.
//! * A command goes up the WebSocket when that is the open connection (answered by `ack`
//!   or `error`), else by `POST`; both with an Idempotency-Key, so a command whose socket
//!   died is resent by `POST` safely.
//! * Every command waits in the [`Outbox`] (kept in the browser's storage) until the board
//!   it shows contains it or the server refuses it; the page shows the confirmed board with
//!   the outbox re-applied (optimistic updates). A command that cannot reach the server
//!   (offline) stays there and is sent again, with its key, whenever a connection opens or
//!   the network returns: at once, not after a retry delay still running.
//! * The outbox is shared by the browser's tabs of the board ([`super::outbox`]): each tab
//!   tells the others what it adds or takes back, and only the tab holding the leader lock
//!   sends, telling every tab the answers. A command overdue (too old, another epoch)
//!   waits for the person instead, and so does everything made after it.
//! * Undo and redo ([`super::undo`]): each answer's step goes onto the tab's undo stack;
//!   an undo is the domain's inverse command, sent like any other once everything sent
//!   before it is on the confirmed board.
//! * While the tab is hidden or the connection is down, [`super::away`] counts the changes
//!   by others it applies unseen, and the page says "you missed N changes" on return.
//! * Every recovery step (a gap found, a backfill, a reset, a reconnect, a resend) is noted
//!   in the wire inspector's timeline with its time, so a learner who breaks the
//!   connection on purpose (`lab`) sees why nothing was lost.

use std::cell::Cell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;

use futures::channel::mpsc::{self, UnboundedReceiver};
use futures::future::{AbortHandle, Abortable};
use futures::{FutureExt, StreamExt};
use leptos::prelude::*;

use super::away::{Away, Missed};
use super::client::BoardClient;
use super::client::LocalShown;
use super::connection::{Conn, Trouble};
use super::inbox::{Answered, Inbox, Input};
use super::outbox::{self, Shared};
use super::platform::{Exchange, HttpError, Link, LinkEvent, Metered, Opening, Outgoing, Platform, Report, Sharing};
use super::undo::{Direction, Undos};
use super::wire::{NoteStep, WireEntry};
use board_core::api::Position;
use board_core::backoff::Backoff;
use board_core::domain::Command;
use board_core::optimistic::{Outbox, Pending};
use board_core::patterns::Frame;
use board_core::protocol::Transport;
use board_core::step::{step, Step};

/// How many times a command is posted in a row before it waits in the outbox for the next
/// connection to open.
const POST_ATTEMPTS: usize = 6;
/// An outbox of more than this many commands is shown at most every `SHOW_BIG_OUTBOX_MS`.
const BIG_OUTBOX: usize = 50;
const SHOW_BIG_OUTBOX_MS: i64 = 100;
/// Pulls after pokes wait up to this long, so that many clients poked at once spread out
/// and pokes arriving meanwhile share one pull.
const PULL_SPREAD_MS: f64 = 50.0;

/// The engine for `client` on `platform`: attaches it to the client (whose `switch` and
/// `send` then reach it) and returns the loop, to run on the page's executor until the
/// client is gone (its page was left).
pub fn start<P: Platform>(client: BoardClient, platform: P) -> impl std::future::Future<Output = ()> {
    let (sender, inputs) = mpsc::unbounded();
    client.attach(sender.clone());
    client.running.set(true);
    run(client, platform, sender, inputs)
}

/// The loop. `sender` is how links report back; the client holds another.
async fn run<P: Platform>(client: BoardClient, platform: P, sender: Inbox, inputs: UnboundedReceiver<Input>) {
    let network = {
        let sender = sender.clone();
        platform.on_network(Rc::new(move |online| {
            let _ = sender.unbounded_send(Input::Network(online));
        }))
    };
    let visibility = {
        let sender = sender.clone();
        platform.on_visibility(Rc::new(move |visible| {
            let _ = sender.unbounded_send(Input::Visible(visible));
        }))
    };
    // The other tabs of this board in this browser: what they share, and who sends.
    let board = client.board_id();
    let shared = {
        let sender = sender.clone();
        platform.on_shared(
            &board,
            Rc::new(move |change| {
                let _ = sender.unbounded_send(Input::Shared(change));
            }),
        )
    };
    let leader = {
        let sender = sender.clone();
        platform.lead(
            &board,
            Rc::new(move || {
                let _ = sender.unbounded_send(Input::Lead);
            }),
        )
    };
    let mut engine = Engine {
        client,
        platform: Rc::new(platform),
        sender,
        inputs,
        deferred: VecDeque::new(),
        generation: 0,
        link: None,
        backoff: Backoff::default(),
        retry_at: None,
        in_flight: Vec::new(),
        outbox: Outbox::default(),
        posting: None,
        issued: 0,
        sent: std::collections::HashSet::new(),
        epoch: None,
        undos: Undos::default(),
        away: Away::default(),
        sends: false,
        last_made: 0,
        outbox_shown_at: 0,
        outbox_show_due: false,
        outbox_changed: false,
        confirmed: client.state.get_untracked(),
    };
    // What earlier pages of the board left in this browser: the commands pending in its
    // tabs, and the board as they last had it.
    let local = engine.platform.load_local(&board).await;
    engine.restore(local);
    // A reload: what this tab's previous page had seen, against the board as it is now.
    let seq = engine.confirmed.seq;
    if let Some(seen) = engine.platform.load_seen(&board).filter(|seen| *seen < seq) {
        engine.client.missed.set(Some(Missed { from: seen, to: seq, count: seq - seen }));
    }
    if engine.platform.online() {
        engine.connect();
    } else {
        engine.went_offline();
    }
    while let Some(input) = engine.next_input().await {
        // The page that owned the client is gone: so is the engine.
        if engine.client.conn.try_get_untracked().is_none() {
            break;
        }
        engine.handle(input).await;
    }
    engine.close();
    // The leader lock goes with the engine: another tab takes over the sending.
    drop((network, visibility, shared, leader));
}

/// A command's `POST` task, which retries by itself while the server is unreachable.
struct Posting {
    key: String,
    /// Set while the task waits out a retry delay: a connection that opens, or the network
    /// coming back, stops the wait (`Engine::wake_posting`) so the command goes at once.
    resting: Rc<Cell<bool>>,
    abort: AbortHandle,
}

struct Engine<P: Platform> {
    client: BoardClient,
    platform: Rc<P>,
    /// Cloned into each link's report callback.
    sender: Inbox,
    inputs: UnboundedReceiver<Input>,
    /// Inputs taken from the channel early (while coalescing pokes), handled next.
    deferred: VecDeque<Input>,
    /// Bumped on every (re)connect; reports tagged with an older one are ignored.
    generation: u64,
    /// The open connection.
    link: Option<Box<dyn Link>>,
    backoff: Backoff,
    /// When to reconnect after a failure (platform milliseconds); `None`: not waiting.
    retry_at: Option<i64>,
    /// Commands sent up a WebSocket and not yet answered: `(request_id, key)`, posted
    /// (with the same key) if the socket dies first.
    in_flight: Vec<(String, String)>,
    /// Every command not yet in the confirmed board nor refused (see `optimistic`).
    outbox: Outbox,
    /// The `POST` under way beside the engine (one at a time, see `dispatch`).
    posting: Option<Posting>,
    /// Commands this page has issued (part of each new key).
    issued: u64,
    /// Keys of the outbox's commands that were sent at least once: sending one again is
    /// a resend (the timeline says so).
    sent: std::collections::HashSet<String>,
    /// The board's epoch once `hello` or a poll answer told it: sent with our seq, so a
    /// server whose board is another incarnation tells us to reset (`api::Position`).
    epoch: Option<String>,
    /// This tab's undo and redo.
    undos: Undos,
    /// What the page applied while nobody saw it (hidden, disconnected).
    away: Away,
    /// Does this tab send the shared outbox (it holds the leader lock)? The others only
    /// show it.
    sends: bool,
    /// When this tab made its last command: each next one is stamped later, so the
    /// shared outbox keeps every tab's commands in the order they were made.
    last_made: i64,
    /// When the page was last handed the outbox, whether a newer one waits to be, and
    /// whether the outbox changed since.
    outbox_shown_at: i64,
    outbox_show_due: bool,
    outbox_changed: bool,
    /// The board as this engine has applied it (the confirmed board): the page's
    /// `client.state` is this, handed over by `publish_view` (at once, unless a big
    /// outbox makes that dear).
    confirmed: Arc<board_core::domain::BoardState>,
}

impl<P: Platform> Engine<P> {
    /// The next input: deferred ones first, then the channel; a due reconnect when its
    /// time comes first.
    async fn next_input(&mut self) -> Option<Input> {
        if let Some(input) = self.deferred.pop_front() {
            return Some(input);
        }
        let Some(at) = self.retry_at else { return self.inputs.next().await };
        let wait = (at - self.platform.now_ms()).max(0) as u32;
        let platform = self.platform.clone();
        let woke = {
            let sleep = platform.sleep(wait).fuse();
            futures::pin_mut!(sleep);
            futures::select! {
                input = self.inputs.next() => Some(input),
                () = sleep => None,
            }
        };
        match woke {
            Some(input) => input,
            None => {
                // The backoff delay is over: reconnect, then wait for what comes next.
                self.connect();
                self.inputs.next().await
            }
        }
    }

    async fn handle(&mut self, input: Input) {
        match input {
            Input::Link { generation, .. } if generation != self.generation => {}
            Input::Link { event, .. } => self.link_event(event).await,
            Input::Switch => self.connect(),
            Input::Network(false) => self.went_offline(),
            Input::Network(true) => self.back_online(),
            Input::RetryNow => {
                if self.client.conn.get_untracked() == Conn::Offline && self.client.online.get_untracked() {
                    self.note(NoteStep::Reconnect, "trying now, as asked");
                    self.connect();
                }
                self.wake_posting();
            }
            Input::Send(command) => {
                let key = self.send(command, None);
                self.undos.made(&key);
            }
            Input::SendHeld { command, ms } => {
                let key = self.send(command, Some(ms));
                self.undos.made(&key);
            }
            Input::Undo => self.undo_redo(Direction::Undo),
            Input::Redo => self.undo_redo(Direction::Redo),
            Input::Visible(visible) => self.visible(visible),
            Input::Release(key) => {
                if self.outbox.release(&key) {
                    self.share_pending(&key);
                    self.publish_outbox(true);
                    self.flush();
                }
            }
            Input::CancelHeld(todo) => self.cancel_held(todo),
            Input::Answer { key, answer } => self.answered_here(&key, answer),
            Input::Signal(signal) => self.signal(signal),
            Input::Shared(change) => self.shared(change),
            Input::Lead => self.lead(),
            Input::ShowOutbox => {
                if self.outbox_show_due {
                    self.show_outbox();
                }
            }
            Input::Approve(key) => {
                if let Some(pending) = self.outbox.get(&key).filter(|p| p.seq.is_none()) {
                    let pending = Pending { approved: true, ..pending.clone() };
                    self.outbox.put(pending.clone());
                    self.platform.share(&self.client.board_id(), &Shared::Put { pending });
                    self.publish_outbox(true);
                    self.flush();
                }
            }
            Input::Discard(key) => {
                if self.outbox.get(&key).is_some_and(|p| p.seq.is_none()) && self.outbox.drop_key(&key) {
                    self.undos.refused(&key);
                    self.platform.share(&self.client.board_id(), &Shared::Dropped { key });
                    self.publish_outbox(true);
                    self.flush();
                }
            }
        }
    }

    async fn link_event(&mut self, event: LinkEvent) {
        match event {
            LinkEvent::Opened => {
                if self.client.conn.get_untracked() != Conn::Live && self.backoff.failures() > 0 {
                    self.note(
                        NoteStep::Reconnect,
                        format!("connected again after {} failure(s)", self.backoff.failures()),
                    );
                }
                self.live();
                self.client.trouble.set(None);
                self.backoff.reset();
                // A connection works: what waits in the outbox goes now, not after the
                // retry delay a POST may still be waiting out.
                self.wake_posting();
            }
            LinkEvent::Frame(frame, bytes) => self.frame(frame, bytes).await,
            LinkEvent::Epoch(epoch) => self.saw_epoch(&epoch),
            LinkEvent::Exchange(cost) => self.metered(Some(cost)),
            LinkEvent::Sent { bytes, ephemeral } => {
                let now = self.platform.now_ms();
                self.client.wire.update(|w| w.sent(now, bytes, ephemeral));
            }
            LinkEvent::AtHead(head) => self.at_head(head),
            LinkEvent::Failed => self.failed(),
            LinkEvent::Revoked => self.revoked(),
            LinkEvent::Sharing(sharing) => self.client.sharing.set(sharing),
        }
    }

    /// Takes what earlier pages left: their pending commands (merged with any another tab
    /// told meanwhile), and their board when it is newer than the one this page came with
    /// (a page opened with no network: the app's shell from the service worker carries an
    /// old board or none). Such a board is shown marked as the local copy until the
    /// connection is live; if the server's board has moved to another epoch since, the
    /// connection's position says so and the engine takes a fresh snapshot.
    fn restore(&mut self, local: super::platform::LocalCopy) {
        for pending in local.outbox.iter() {
            self.outbox.put(pending.clone());
        }
        // A held delete whose time is over goes; one still in its hold (its tab may still
        // be open and may take it back) is released when the hold ends.
        let now = self.platform.now_ms();
        let held: Vec<(String, i64)> =
            self.outbox.iter().filter_map(|p| p.hold_until.map(|until| (p.key.clone(), until))).collect();
        for (key, until) in held {
            match until <= now {
                true => {
                    self.outbox.release(&key);
                }
                false => self.release_after(key, (until - now).min(i64::from(u32::MAX)) as u32),
            }
        }
        // Earlier pages sent these (or tried to): sending them again is a resend.
        self.sent = self.outbox.iter().map(|p| p.key.clone()).collect();
        // Newer than the page's board, or as new while there is no network (the page came
        // from the service worker's cache): the browser's copy is what is shown.
        let (page_seq, offline) = (self.confirmed.seq, !self.platform.online());
        let newer = |kept: &super::platform::Kept| kept.state.seq > page_seq || (offline && kept.state.seq == page_seq);
        if let Some(kept) = local.board.filter(newer) {
            self.epoch = kept.epoch;
            self.client.local_copy.set(Some(LocalShown { seq: kept.state.seq, saved_at: kept.saved_at }));
            self.confirmed = Arc::new(kept.state);
            self.client.state.set(self.confirmed.clone());
        } else {
            // The page's own board is the browser's next copy.
            let state = self.confirmed.clone();
            self.platform.save_board(&self.client.board_id(), &state, self.epoch.as_deref());
        }
        // Commands the board shown already holds are no longer pending.
        self.outbox.settle(self.confirmed.seq);
        self.publish_outbox(true);
    }

    /// The connection is live: the page no longer shows only what the browser kept.
    fn live(&mut self) {
        self.client.conn.set(Conn::Live);
        if self.client.local_copy.with_untracked(Option::is_some) {
            self.client.local_copy.set(None);
        }
    }

    /// Where this client is: the seq it holds, in the epoch it knows.
    fn position(&self) -> Position {
        Position { seq: self.confirmed.seq, epoch: self.epoch.clone() }
    }

    fn saw_epoch(&mut self, epoch: &str) {
        if !epoch.is_empty() && self.epoch.as_deref() != Some(epoch) {
            self.epoch = Some(epoch.to_owned());
            // Commands that waited to know the board's epoch go, or wait for the person.
            self.flush();
        }
    }

    /// Opens the current transport from the applied seq, replacing any open connection.
    fn connect(&mut self) {
        if self.client.conn.get_untracked() == Conn::Offline {
            let transport = self.client.transport.get_untracked();
            let seq = self.position().seq;
            self.note(NoteStep::Reconnect, format!("opening {} again from seq {seq}", transport.as_str()));
        }
        self.close();
        self.generation += 1;
        self.retry_at = None;
        self.client.conn.set(Conn::Connecting);
        self.client.sharing.set(Sharing::Own);
        let generation = self.generation;
        let sender = self.sender.clone();
        let report: Report = Rc::new(move |event| {
            let _ = sender.unbounded_send(Input::Link { generation, event });
        });
        let client = self.client;
        let opening = Opening {
            board: client.board_id(),
            transport: client.transport.get_untracked(),
            pattern: client.pattern.get_untracked(),
            from: self.position(),
            poll_ms: Rc::new(move || client.poll_ms.try_get_untracked().unwrap_or(super::client::DEFAULT_POLL_MS)),
            me: client.me.get_untracked(),
            claim: client.claim.get_value(),
        };
        match self.platform.open(opening, report) {
            Some(link) => self.link = Some(link),
            None => self.failed(),
        }
    }

    fn close(&mut self) {
        if let Some(link) = self.link.take() {
            link.close();
        }
    }

    /// The connection failed: close it, post what it did not answer, and reconnect after
    /// a jittered, growing delay.
    fn failed(&mut self) {
        self.close();
        self.away.lost(self.position().seq);
        self.client.conn.set(Conn::Offline);
        // Commands that went up a socket that died may or may not have committed: the same
        // Idempotency-Key over HTTP makes the retry safe either way.
        self.in_flight.clear();
        self.flush();
        let delay = self.backoff.next_delay_ms(self.platform.random());
        let now = self.platform.now_ms();
        self.retry_at = Some(now + i64::from(delay));
        let since = self.client.trouble.with_untracked(|t| t.map_or(now, |t| t.since));
        let trouble = Trouble { since, retry_at: now + i64::from(delay), failures: self.backoff.failures() };
        self.client.trouble.set(Some(trouble));
        self.note(NoteStep::Reconnect, format!("connection lost; trying again in {delay} ms"));
    }

    /// The browser has no network: close the connection now (a stream can stay open
    /// without one and would look live) and try nothing until it is back. What the page
    /// sends meanwhile waits in the outbox.
    fn went_offline(&mut self) {
        self.client.online.set(false);
        if self.client.conn.get_untracked() == Conn::Revoked {
            return;
        }
        self.away.lost(self.position().seq);
        self.stop(Conn::Offline);
        self.client.trouble.set(None);
        self.note(NoteStep::Reconnect, "the browser is offline: waiting for the network");
    }

    /// Closes the connection and waits, in state `conn`: nothing reconnects by itself, and
    /// what the closed link still reports belongs to the past. (Commands that went up it
    /// unanswered are posted again with their keys when the next connection opens.)
    fn stop(&mut self, conn: Conn) {
        self.close();
        self.generation += 1;
        self.retry_at = None;
        self.in_flight.clear();
        self.client.conn.set(conn);
    }

    /// The network is back: connect now, from the start of the backoff, and send what
    /// waits at once.
    fn back_online(&mut self) {
        self.client.online.set(true);
        self.backoff.reset();
        if self.client.conn.get_untracked() == Conn::Offline {
            self.connect();
        }
        self.wake_posting();
    }

    /// A `POST` waiting out a retry delay goes now, and so does everything behind it. (One
    /// in the middle of its request keeps going: a second request with the same key could
    /// only be answered the same way, but there is no need for it.)
    fn wake_posting(&mut self) {
        if self.posting.as_ref().is_some_and(|p| p.resting.get()) {
            if let Some(posting) = self.posting.take() {
                posting.abort.abort();
            }
        }
        self.flush();
    }

    /// The server says this page's key no longer opens the board (a `revoked` frame,
    /// WebSocket close 4403, or 404 on a poll): stop for good, retrying cannot help.
    fn revoked(&mut self) {
        self.stop(Conn::Revoked);
        self.client.can_write.set(false);
        self.client.can_admin.set(false);
        let message = "Access to this board was withdrawn: its keys were changed. Ask its owner for a new link.";
        self.client.notice.set(Some(message.into()));
        // What waits to be sent never will be: it leaves the board, like a refusal.
        let waiting: Vec<String> = self.outbox.iter().filter(|p| p.seq.is_none()).map(|p| p.key.clone()).collect();
        for key in waiting {
            if let Some(refusal) = self.outbox.refused(&key, None, message.into()) {
                self.client.refused(refusal);
            }
        }
        self.publish_outbox(true);
    }

    async fn frame(&mut self, frame: Frame, bytes: usize) {
        let now = self.platform.now_ms();
        // A poll's frames came inside its answer, which was counted whole; a relayed frame
        // crossed another tab's connection, not this one's.
        let carried = matches!(self.client.transport.get_untracked(), Transport::Poll | Transport::LongPoll)
            || self.client.sharing.get_untracked() != Sharing::Own;
        self.client.wire.update(|w| w.record(entry(&frame, bytes, now, carried)));
        match &frame {
            Frame::Hello { replica, epoch, head, .. } => {
                self.saw_epoch(epoch);
                self.client.replica.set(replica.clone());
                self.live();
                self.at_head(*head);
            }
            Frame::Heartbeat { head } => self.at_head(*head),
            Frame::Ack { request_id, seq, step, .. } => {
                if let Some(key) = self.answered_up_the_socket(request_id.as_deref()) {
                    self.answered_here(&key, Ok(Answered { seq: *seq, step: step.as_deref().cloned() }));
                }
                return;
            }
            Frame::Error { request_id, status, error } => {
                match self.answered_up_the_socket(request_id.as_deref()) {
                    Some(key) => {
                        self.answered_here(&key, Err(HttpError::Status { status: *status, message: error.clone() }))
                    }
                    None => self.client.notice.set(Some(error.clone())),
                }
                return;
            }
            Frame::Revoked {} => return self.revoked(),
            // Ephemeral: who is here now (the whole list), and letters for the peer mesh.
            Frame::Presence { members, more, .. } => {
                let present: std::collections::BTreeSet<&String> = members.iter().flat_map(|m| &m.clients).collect();
                self.client.cursors.update(|cursors| cursors.retain(|client, _| present.contains(client)));
                self.client.presence.set(members.clone());
                self.client.presence_more.set(*more);
                return;
            }
            Frame::Signal { .. } | Frame::Cursor { .. } => return self.platform.letter(frame),
            _ => {}
        }
        // A change of this browser's: its command is in the outbox until the board applies it.
        let mine = frame.key().is_some_and(|key| self.outbox.get(key).is_some());
        // Our own command's change, perhaps before its answer: the outbox learns its seq,
        // and drops it once the board applied that seq.
        self.keyed(&frame);
        let pattern = self.client.pattern.get_untracked();
        let mut state = self.confirmed.clone();
        match step(Arc::make_mut(&mut state), pattern, &frame) {
            Ok(Step::Applied) => {
                self.confirm(state);
                self.applied_at(frame.at());
                self.traced_apply(&frame, now, mine);
            }
            Ok(Step::Skip) => {}
            Ok(Step::Backfill { since }) => {
                let text = match &frame {
                    Frame::Heartbeat { head } => format!("heartbeat says head {head}, this tab has seq {since}"),
                    _ => format!("got seq {} after seq {since}", frame.seq().unwrap_or_default()),
                };
                self.note(NoteStep::Gap, text);
                self.backfill(since).await
            }
            Ok(Step::Pull) => {
                if let Frame::Heartbeat { head } = &frame {
                    self.note(
                        NoteStep::Gap,
                        format!("heartbeat says head {head}, this tab has seq {}: pull", state.seq),
                    );
                }
                self.platform.sleep((self.platform.random() * PULL_SPREAD_MS) as u32).await;
                let newest = self.drop_queued_pokes();
                let told = match &frame {
                    Frame::Heartbeat { head } => Some(*head),
                    _ => frame.seq(),
                };
                let before = self.confirmed.seq;
                self.pull(told.max(newest)).await;
                // The change this poke told of is on the page once its pull is.
                if self.confirmed.seq > before {
                    self.applied_at(frame.at());
                    self.traced_apply(&frame, now, mine);
                }
            }
            Ok(Step::Snapshot) => {
                self.note(NoteStep::Reset, "the server cannot catch this tab up: taking a fresh snapshot");
                self.snapshot().await
            }
            Err(err) => {
                leptos::logging::warn!("cannot apply a frame ({err}); taking a fresh snapshot");
                self.note(NoteStep::Reset, format!("cannot apply a frame ({err}): taking a fresh snapshot"));
                self.snapshot().await;
            }
        }
    }

    /// Coalesces: the pokes already waiting are answered by the pull about to be made.
    /// Returns the newest seq they told of.
    fn drop_queued_pokes(&mut self) -> Option<u64> {
        while let Ok(input) = self.inputs.try_recv() {
            self.deferred.push_back(input);
        }
        let generation = self.generation;
        let mut newest = None;
        let mut coalesced = Vec::new();
        self.deferred.retain(|input| match input {
            Input::Link { generation: g, event: LinkEvent::Frame(poke @ Frame::Poke { seq, .. }, bytes) }
                if *g == generation =>
            {
                newest = newest.max(Some(*seq));
                coalesced.push((poke.clone(), *bytes));
                false
            }
            _ => true,
        });
        // They crossed the network all the same: the inspector lists and counts each.
        let now = self.platform.now_ms();
        self.client.wire.update(|w| {
            for (poke, bytes) in &coalesced {
                let mut row = entry(poke, *bytes, now, false);
                row.summary = "answered by the pull under way".into();
                w.record(row);
            }
        });
        newest
    }

    /// Fetches the frames after `since` from the log, page after page, and applies them.
    async fn backfill(&mut self, mut since: u64) {
        let started = since;
        loop {
            let pattern = self.client.pattern.get_untracked();
            let from = Position { seq: since, ..self.position() };
            let Metered { answer, cost } = self.platform.changes(&self.client.board_id(), &from, pattern).await;
            self.metered(cost);
            match answer {
                Ok(page) => {
                    let mut state = self.confirmed.clone();
                    // Each frame read from the log is listed under the request that read it.
                    let now = self.platform.now_ms();
                    self.client.wire.update(|w| {
                        for frame in &page.frames {
                            w.record(entry(frame, frame.to_json().len(), now, true));
                        }
                    });
                    for frame in &page.frames {
                        self.keyed(frame);
                        if !matches!(step(Arc::make_mut(&mut state), pattern, frame), Ok(Step::Applied | Step::Skip)) {
                            break;
                        }
                    }
                    let progressed = state.seq > since;
                    since = state.seq;
                    self.confirm(state);
                    if since >= page.head || !progressed {
                        let text = format!("read seq {}..={since} from the log", started + 1);
                        return self.note(NoteStep::Backfill, text);
                    }
                }
                Err(HttpError::Status { status: 410, .. }) => {
                    self.note(NoteStep::Reset, format!("the log no longer holds seq {since}: taking a fresh snapshot"));
                    return self.snapshot().await;
                }
                Err(err) => {
                    // Reconnecting catches up from the applied seq.
                    leptos::logging::warn!("backfill failed: {}", err.message());
                    self.note(NoteStep::Reconnect, format!("backfill failed ({}): reconnecting", err.message()));
                    return self.connect();
                }
            }
        }
    }

    /// Pulls the board at `told` (the newest seq a poke or heartbeat named) from its
    /// immutable URL, which a shared cache can answer for every client of the board; when
    /// that seq is no longer the head (`410`) or nothing named one, the current state
    /// (`If-None-Match` our seq, in our epoch: `304` costs the server nothing).
    async fn pull(&mut self, told: Option<u64>) {
        let have = self.position();
        let board = self.client.board_id();
        if let Some(seq) = told.filter(|seq| *seq > have.seq) {
            let Metered { answer, cost } = self.platform.snapshot_at(&board, seq, have.epoch.as_deref()).await;
            self.metered(cost.map(|cost| Exchange { kind: "pull", ..cost }));
            match answer {
                Ok(state) => {
                    if state.seq > self.confirmed.seq {
                        self.confirm(state);
                    }
                    return;
                }
                // Moved on (or another epoch): the current state below is newer anyway.
                Err(HttpError::Status { status: 404 | 410, .. }) => {}
                Err(err) => return leptos::logging::warn!("pull failed: {}", err.message()),
            }
        }
        let Metered { answer, cost } = self.platform.state(&board, Some(&have)).await;
        self.metered(cost.map(|cost| Exchange { kind: "pull", ..cost }));
        match answer {
            Ok(Some(state)) if state.seq >= have.seq => self.confirm(state),
            Ok(_) => {}
            Err(err) => leptos::logging::warn!("pull failed: {}", err.message()),
        }
    }

    /// Takes the board as it is now, whatever we hold: after `reset`, our seq may be from
    /// another epoch, so neither a `304` nor a lower seq means anything.
    async fn snapshot(&mut self) {
        let Metered { answer, cost } = self.platform.state(&self.client.board_id(), None).await;
        self.metered(cost.map(|cost| Exchange { kind: "snapshot", ..cost }));
        match answer {
            Ok(Some(state)) => self.confirm(state),
            Ok(None) => {}
            Err(err) => leptos::logging::warn!("snapshot failed: {}", err.message()),
        }
    }

    /// A new command from the page: into the outbox with a fresh Idempotency-Key (the
    /// page shows it at once), then on its way; or, `hold` ms from now, if not undone.
    /// Returns its key.
    fn send(&mut self, command: Command, hold: Option<u32>) -> String {
        // Random (unique across tabs and reloads) and counted (unique within this page
        // whatever the random source).
        self.issued += 1;
        let key = format!("{:016x}{:08x}{:08x}", self.random_u64(), self.random_u64() as u32, self.issued as u32);
        // Stamped later than this tab's previous command, whatever the clock did.
        let now = self.platform.now_ms();
        self.last_made = now.max(self.last_made + 1);
        let mut pending = Pending::new(key.clone(), command, self.last_made, self.epoch.clone());
        pending.hold_until = hold.map(|ms| now + i64::from(ms));
        self.outbox.put(pending.clone());
        self.platform.share(&self.client.board_id(), &Shared::Put { pending });
        self.publish_outbox(true);
        match hold {
            // In its turn: after any earlier command still waiting for the person.
            None => self.flush(),
            Some(ms) => self.release_after(key.clone(), ms),
        }
        key
    }

    /// Ends the hold of `key` after `ms`, unless undone by then.
    fn release_after(&self, key: String, ms: u32) {
        let (platform, sender) = (self.platform.clone(), self.sender.clone());
        self.platform.spawn(async move {
            platform.sleep(ms).await;
            let _ = sender.unbounded_send(Input::Release(key));
        });
    }

    /// Takes back the held command about `todo`, here and in the browser's other tabs.
    fn cancel_held(&mut self, todo: board_core::domain::Id) {
        let undone = self.outbox.undo(todo);
        for key in &undone {
            self.platform.share(&self.client.board_id(), &Shared::Dropped { key: key.clone() });
        }
        if !undone.is_empty() {
            self.publish_outbox(true);
        }
    }

    /// Tells the other tabs the pending command with `key` as this tab now has it.
    fn share_pending(&self, key: &str) {
        if let Some(pending) = self.outbox.get(key) {
            self.platform.share(&self.client.board_id(), &Shared::Put { pending: pending.clone() });
        }
    }

    /// Another tab of this browser changed the shared outbox.
    fn shared(&mut self, change: Shared) {
        match change {
            Shared::Put { pending } => {
                let (key, hold_until) = (pending.key.clone(), pending.hold_until);
                // A change the confirmed board already holds has nothing left to show.
                if pending.seq.is_some_and(|seq| seq <= self.position().seq) {
                    return;
                }
                if self.outbox.put(pending) {
                    // Held in the tab that made it: released here too when the hold ends,
                    // should that tab be closed by then.
                    if let Some(until) = hold_until {
                        let ms = (until - self.platform.now_ms()).clamp(0, i64::from(u32::MAX)) as u32;
                        self.release_after(key, ms);
                    }
                    self.publish_outbox(true);
                    self.flush();
                }
            }
            Shared::Answered { key, answer } => {
                if self.outbox.get(&key).is_some() {
                    self.answered(&key, answer);
                }
            }
            Shared::Dropped { key } => {
                if self.outbox.drop_key(&key) {
                    self.publish_outbox(true);
                    self.flush();
                }
            }
        }
    }

    /// This tab now sends the shared outbox: the tab that did is gone, perhaps with
    /// commands on the wire, so every one waiting is a resend (same key, applied once).
    fn lead(&mut self) {
        self.sends = true;
        self.client.sends.set(true);
        self.sent = self.outbox.iter().map(|p| p.key.clone()).collect();
        if self.outbox.waiting() > 0 {
            let waiting = self.outbox.waiting();
            self.note(
                NoteStep::Resend,
                format!("this tab now sends the {waiting} change(s) this browser's tabs queued"),
            );
        }
        self.flush();
    }

    /// The person asked to undo or redo: a held delete is the newest change (Undo takes
    /// it back unsent); otherwise the stack's inverse goes like any command, or the page
    /// says why not. With commands still on their way it waits for them (`settled`).
    fn undo_redo(&mut self, direction: Direction) {
        if direction == Direction::Undo {
            let held = self
                .outbox
                .iter()
                .filter(|p| p.hold_until.is_some())
                .last()
                .and_then(|p| board_core::optimistic::subject(&p.command));
            if let Some(todo) = held {
                return self.cancel_held(todo);
            }
        }
        let board = self.confirmed.clone();
        match self.undos.ask(direction, &board, self.outbox.is_empty()) {
            Ok(Some(command)) => {
                self.client.undo_blocked.set(None);
                let key = self.send(command, None);
                self.undos.sent(&key, direction);
            }
            Ok(None) => {}
            Err(note) => self.client.undo_blocked.set(Some(note)),
        }
        self.client.undo.set(self.undos.shown());
    }

    /// An undo or redo asked for while commands were on their way goes once they are all
    /// on the board.
    fn undo_if_due(&mut self) {
        if let Some(direction) = self.undos.due(self.outbox.is_empty()) {
            self.undo_redo(direction);
        }
    }

    /// The tab went to the background (`false`) or came back (`true`).
    fn visible(&mut self, visible: bool) {
        let seq = self.position().seq;
        if visible {
            let live = self.client.conn.get_untracked() == Conn::Live;
            if let Some(missed) = self.away.shown(seq, live) {
                self.client.missed.set(Some(missed));
            }
        } else {
            self.away.hidden(seq);
            // A reload hides the page first: the next page knows what this one saw.
            self.platform.save_seen(&self.client.board_id(), seq);
        }
    }

    /// The server named the board's head: a page that was away knows where it catches up to.
    fn at_head(&mut self, head: u64) {
        if let Some(missed) = self.away.at_head(head, self.position().seq) {
            self.client.missed.set(Some(missed));
        }
    }

    /// Sends every command of the outbox that has no answer yet and is not on its way, in
    /// order, up to the first that may not go by itself (overdue, or its epoch not known
    /// yet): what was made after it waits too, so nothing overtakes it.
    fn flush(&mut self) {
        self.show_overdue();
        let (now, max_age) = (self.platform.now_ms(), self.client.max_age_ms.get_value());
        let epoch = self.epoch.clone();
        // Those on their way already are skipped here, in one pass: a thousand commands up
        // a socket must not cost a thousand searches per answer.
        let on_the_wire: std::collections::HashSet<&str> = self.in_flight.iter().map(|(_, k)| k.as_str()).collect();
        let waiting: Vec<String> = self
            .outbox
            .iter()
            .filter(|p| p.seq.is_none())
            .take_while(|p| outbox::may_go(p, now, max_age, epoch.as_deref()))
            .filter(|p| !on_the_wire.contains(p.key.as_str()))
            .map(|p| p.key.clone())
            .collect();
        for key in waiting {
            // One POST at a time: the rest wait for its answer.
            if self.posting.is_some() {
                break;
            }
            self.dispatch(&key);
        }
    }

    /// Lists the overdue commands for the person (computed only when there is one: it
    /// replays the outbox).
    fn show_overdue(&self) {
        let (now, max_age) = (self.platform.now_ms(), self.client.max_age_ms.get_value());
        let any = self.outbox.iter().any(|p| p.overdue(now, max_age, self.epoch.as_deref()).is_some());
        let listed = match any {
            true => outbox::overdue(&self.outbox, &self.confirmed, now, max_age, self.epoch.as_deref()),
            false => Vec::new(),
        };
        if self.client.overdue.with_untracked(|shown| *shown != listed) {
            self.client.overdue.set(listed);
        }
    }

    /// Sends one command of the outbox: up the open connection if it carries commands
    /// (answered by an `ack` or `error` frame; one socket keeps them in order), else by
    /// `POST`, one at a time: concurrent requests could commit in another order than the
    /// person made them, so the next waits for the previous one's answer. Never one
    /// command twice at once.
    fn dispatch(&mut self, key: &str) {
        // Offline, nothing can go: it waits for the network (`back_online`). A held
        // command goes when its hold ends (`Input::Release`).
        if !self.sends || !self.client.online.get_untracked() || self.outbox.held(key) {
            return;
        }
        if self.posting.is_some() || self.in_flight.iter().any(|(_, k)| k == key) {
            return;
        }
        let Some(command) = self.outbox.iter().find(|p| p.key == key).map(|p| p.command.clone()) else { return };
        if !self.sent.insert(key.to_owned()) {
            self.note(NoteStep::Resend, format!("{} again, key {}", command.kind(), short(key)));
        }
        let request_id = format!("{:08x}", self.random_u64() as u32);
        // The actor: this tab's presence name, kept with the change for history.
        let actor = self.client.me.with_untracked(|me| me.as_ref().map(|me| me.name.clone()));
        let traceparent = self.client.traced.get_untracked().then(|| super::trace::traceparent(key)).flatten();
        let outgoing = Outgoing { key: key.to_owned(), command, actor, traceparent };
        if self.link.as_ref().is_some_and(|link| link.send_command(&request_id, &outgoing)) {
            self.in_flight.push((request_id, key.to_owned()));
        } else {
            self.posting = Some(self.post(outgoing));
        }
    }

    /// The key of the command an `ack` or `error` frame answers.
    fn answered_up_the_socket(&mut self, request_id: Option<&str>) -> Option<String> {
        let at = self.in_flight.iter().position(|(id, _)| Some(id.as_str()) == request_id)?;
        Some(self.in_flight.remove(at).1)
    }

    /// The server's answer to a command this tab sent: every tab hears it (unless the
    /// server could not be reached: then it stays pending everywhere).
    fn answered_here(&mut self, key: &str, answer: Result<Answered, HttpError>) {
        if !answer.as_ref().is_err_and(HttpError::retryable) {
            let change = Shared::Answered { key: key.to_owned(), answer: answer.clone() };
            self.platform.share(&self.client.board_id(), &change);
        }
        self.answered(key, answer);
    }

    /// The server's answer to the command sent with `key` (by `POST` or up the socket,
    /// from this tab or the one that sends for the browser).
    fn answered(&mut self, key: &str, answer: Result<Answered, HttpError>) {
        if self.posting.as_ref().is_some_and(|p| p.key == key) {
            self.posting = None;
        }
        match answer {
            Ok(Answered { seq, step }) => {
                self.client.notice.set(None);
                self.undos.committed(key, step);
                self.client.undo.set(self.undos.shown());
                self.outbox.committed(key, seq);
                self.outbox.settle(self.confirmed.seq);
                // The next command in line, if it waited for this one.
                self.flush();
            }
            // Unreachable for now: it stays in the outbox, sent again when a connection opens.
            Err(err) if err.retryable() => {
                let waiting = self.outbox.waiting();
                self.client
                    .notice
                    .set(Some(format!("the server cannot be reached; {waiting} change(s) waiting, sent when it can")));
            }
            // Refused (409, 422, 403, ...): gone from the board, the message shown once,
            // where the action was (its card or its column), else in the page's banner.
            Err(err) => {
                let message = err.message();
                self.undos.refused(key);
                match self.outbox.refused(key, err.status(), message.clone()) {
                    Some(refusal) if refusal.has_place() => self.client.refused(refusal),
                    _ => self.client.notice.set(Some(message)),
                }
                self.flush();
            }
        }
        self.publish_outbox(true);
        self.undo_if_due();
    }

    /// A data frame that carries one of our keys tells the seq that command committed at.
    fn keyed(&mut self, frame: &Frame) {
        if let (Some(key), Some(seq)) = (frame.key(), frame.seq()) {
            if self.outbox.committed(key, seq) {
                self.publish_outbox(true);
            }
        }
    }

    /// The confirmed board moved: it may now contain commands of the outbox.
    fn confirm(&mut self, state: impl Into<Arc<board_core::domain::BoardState>>) {
        let state = state.into();
        // The seqs it moved over, less this tab's own commits among them: others' changes.
        let before = self.confirmed.seq;
        let ours = self.outbox.iter().filter(|p| p.seq.is_some_and(|seq| seq > before && seq <= state.seq)).count();
        let others = state.seq.saturating_sub(before).saturating_sub(ours as u64);
        if others > 0 {
            self.client.remote_changes.update(|n| *n += others);
        }
        if let Some(missed) = self.away.applied(before, state.seq, ours as u64) {
            self.client.missed.set(Some(missed));
        }
        let settled = self.outbox.settle(state.seq);
        self.platform.save_board(&self.client.board_id(), &state, self.epoch.as_deref());
        self.confirmed = state;
        self.publish_view();
        if settled > 0 {
            self.publish_outbox(true);
            self.undo_if_due();
        }
    }

    /// Counts an HTTP request of this engine and its answer in the inspector.
    fn metered(&self, cost: Option<Exchange>) {
        if let Some(cost) = cost {
            let at = self.platform.now_ms();
            self.client.wire.update(|w| w.exchange(at, cost));
        }
    }

    /// A change committed at `at` (Unix ms, from its frame) is now on the page.
    fn applied_at(&self, at: Option<i64>) {
        if let Some(at) = at.filter(|at| *at > 0) {
            let now = self.platform.now_ms();
            self.client.wire.update(|w| w.latency(now - at));
        }
    }

    /// A traced change is on the page: the inspector lists it with when it arrived
    /// (`received`, Unix ms) and now, and whether this browser made it (`mine`), and the
    /// server is told (the trace's last hop).
    fn traced_apply(&self, frame: &Frame, received: i64, mine: bool) {
        let (Some(trace), Some(seq)) = (frame.trace(), frame.seq()) else { return };
        let (transport, pattern) = (self.client.transport.get_untracked(), self.client.pattern.get_untracked());
        let seen = super::trace::Seen {
            trace: trace.to_owned(),
            seq,
            received: received as f64,
            applied: self.platform.now_ms() as f64,
            mine,
            replica: self.client.replica.get_untracked(),
            via: format!("{transport} · {pattern}"),
        };
        let report = board_core::api::Applied {
            seq,
            replica: seen.replica.clone(),
            received: seen.received,
            applied: seen.applied,
            transport,
            pattern,
        };
        self.client.traces.update(|traces| traces.push(seen));
        let (platform, board, trace, wire) =
            (self.platform.clone(), self.client.board_id(), trace.to_owned(), self.client.wire);
        self.platform.spawn(async move {
            let Metered { answer, cost } = platform.report_applied(&board, &trace, &report).await;
            if let Some(cost) = cost {
                let at = platform.now_ms();
                wire.update(|w| w.exchange(at, cost));
            }
            if let Err(err) = answer {
                leptos::logging::warn!("the apply of a traced change was not recorded: {}", err.message());
            }
        });
    }

    /// Adds a line to the inspector's timeline.
    fn note(&self, step: NoteStep, text: impl Into<String>) {
        let at = self.platform.now_ms();
        self.client.wire.update(|w| w.note(at, step, text));
    }

    /// Shows the outbox on the page (and keeps it in storage when `save`).
    fn publish_outbox(&mut self, save: bool) {
        // Settled and refused commands are no longer anyone's resend.
        let keys: std::collections::HashSet<&str> = self.outbox.iter().map(|p| p.key.as_str()).collect();
        self.sent.retain(|key| keys.contains(key.as_str()));
        if save {
            self.platform.save_outbox(&self.client.board_id(), &self.outbox);
        }
        self.outbox_changed = true;
        self.publish_view();
    }

    /// Hands the confirmed board and the outbox to the page. The page recomputes the
    /// board it shows from every pending command each time: with a big outbox (a thousand
    /// commands queued offline, going out one answer at a time) that is done at most every
    /// `SHOW_BIG_OUTBOX_MS`, with the newest of both then.
    fn publish_view(&mut self) {
        let now = self.platform.now_ms();
        if self.outbox.len() > BIG_OUTBOX && now - self.outbox_shown_at < SHOW_BIG_OUTBOX_MS {
            if !self.outbox_show_due {
                self.outbox_show_due = true;
                let (platform, sender) = (self.platform.clone(), self.sender.clone());
                let wait = (SHOW_BIG_OUTBOX_MS - (now - self.outbox_shown_at)).max(0) as u32;
                self.platform.spawn(async move {
                    platform.sleep(wait).await;
                    let _ = sender.unbounded_send(Input::ShowOutbox);
                });
            }
            return;
        }
        self.show_outbox();
    }

    /// Hands the page what changed of the confirmed board and the outbox.
    fn show_outbox(&mut self) {
        self.outbox_show_due = false;
        self.outbox_shown_at = self.platform.now_ms();
        if !self.client.state.with_untracked(|shown| Arc::ptr_eq(shown, &self.confirmed)) {
            self.client.state.set(self.confirmed.clone());
        }
        if std::mem::take(&mut self.outbox_changed) {
            self.client.outbox.set(self.outbox.clone());
        }
    }

    /// A signal or relayed cursor: up the WebSocket if that is the open connection, else
    /// `POST`ed beside the engine, once (it is ephemeral: a lost one is not retried).
    fn signal(&mut self, mut signal: board_core::presence::Signal) {
        if self.link.as_ref().is_some_and(|link| link.send_signal(&signal)) {
            return;
        }
        // Over HTTP the server knows this tab by its secret (a socket is the tab itself).
        signal.secret = self.client.claim.get_value();
        let (board, platform, client) = (self.client.board_id(), self.platform.clone(), self.client);
        self.platform.spawn(async move {
            let Metered { answer, cost } = platform.signal(&board, &signal).await;
            if let Some(cost) = cost {
                let at = platform.now_ms();
                client.wire.update(|w| w.exchange(at, cost));
            }
            if let Err(err) = answer {
                leptos::logging::warn!("a signal was not delivered: {}", err.message());
            }
        });
    }

    /// `POST /commands` beside the engine, retried with the same key while the server is
    /// unreachable (a few times; then it waits in the outbox for the next connection);
    /// the answer goes back to the engine. Aborted (`wake_posting`) only while it rests.
    fn post(&self, outgoing: Outgoing) -> Posting {
        let (client, platform, sender) = (self.client, self.platform.clone(), self.sender.clone());
        let key = outgoing.key.clone();
        let resting = Rc::new(Cell::new(false));
        let (abort, registration) = AbortHandle::new_pair();
        let task = {
            let (resting, key) = (resting.clone(), key.clone());
            async move {
                let mut backoff = Backoff::default();
                let mut answer = Err(HttpError::Network("not sent".into()));
                for attempt in 0..POST_ATTEMPTS {
                    if attempt > 0 {
                        let at = platform.now_ms();
                        let text =
                            format!("{} again (attempt {}), key {}", outgoing.command.kind(), attempt + 1, short(&key));
                        client.wire.update(|w| w.note(at, NoteStep::Resend, text));
                    }
                    let metered = platform.command(&client.board_id(), &outgoing).await;
                    if let Some(cost) = metered.cost {
                        let at = platform.now_ms();
                        client.wire.update(|w| w.exchange(at, cost));
                    }
                    answer = metered.answer.map(|a| Answered { seq: a.seq, step: a.step.map(|s| *s) });
                    match &answer {
                        Err(err) if err.retryable() => {
                            resting.set(true);
                            platform.sleep(backoff.next_delay_ms(platform.random())).await;
                            resting.set(false);
                        }
                        _ => break,
                    }
                }
                let _ = sender.unbounded_send(Input::Answer { key, answer });
            }
        };
        self.platform.spawn(Abortable::new(task, registration).map(|_| ()));
        Posting { key, resting, abort }
    }

    fn random_u64(&self) -> u64 {
        (self.platform.random() * (u64::MAX as f64)) as u64
    }
}

/// The start of an Idempotency-Key, enough to tell commands apart in the timeline.
fn short(key: &str) -> &str {
    key.get(..8).unwrap_or(key)
}

/// The inspector's line for a frame received at `now` (Unix ms); `carried`: inside an HTTP
/// answer, whose bytes count it.
fn entry(frame: &Frame, bytes: usize, now: i64, carried: bool) -> WireEntry {
    let summary = match frame {
        Frame::Event { event, .. } | Frame::EventDiff { event, .. } => event.describe(),
        Frame::Ops { ops, .. } => format!("{} op(s)", ops.len()),
        Frame::State { state, .. } => format!("{} todos, {} sprints", state.todos.len(), state.sprints.len()),
        Frame::Hello { replica, head, .. } => format!("replica {replica}, head {head}"),
        Frame::Heartbeat { head } | Frame::Reset { head } => format!("head {head}"),
        Frame::Poke { .. } => "pull needed".into(),
        Frame::Ack { seq, .. } => format!("command committed at seq {seq}"),
        Frame::Error { error, .. } => error.clone(),
        Frame::Revoked {} => "access withdrawn".into(),
        Frame::Presence { members, more, .. } => {
            let tabs: usize = members.iter().map(|m| m.tabs).sum();
            match (members.len(), tabs) {
                (0, _) => "nobody on the list yet".into(),
                (1, 1) => "1 person here, in 1 tab".into(),
                (1, tabs) => format!("1 person here, in {tabs} tabs"),
                (people, tabs) if *more > 0 => format!("{people} people listed ({more} more), in {tabs} tabs"),
                (people, tabs) => format!("{people} people here, in {tabs} tabs"),
            }
        }
        Frame::Signal { from, .. } => format!("from {from}"),
        Frame::Cursor { from, x, y } => format!("{from} at {:.0}%, {:.0}%", x * 100.0, y * 100.0),
    };
    WireEntry {
        at: now,
        ephemeral: frame.is_ephemeral(),
        kind: frame.kind(),
        seq: frame.seq(),
        bytes,
        carried,
        request: false,
        latency_ms: frame.at().filter(|at| *at > 0).map(|at| now - at),
        summary,
    }
}
