//! No tab left behind: over HTTP/1.1 a browser opens at most six connections to one
//! origin, and an SSE stream or a held long-poll keeps one for as long as it lives. Seven
//! tabs on SSE, and the seventh page never even loads: its request waits behind six held
//! streams. So the browser's tabs count their streams, and beyond [`STREAMS`] a tab
//! borrows another's:
//!
//! * **A slot**: a tab that opens SSE or long-poll first takes one of [`STREAMS`] Web Locks
//!   (`stream-slot:N`, without waiting). Holding one, it opens its own stream, exactly as
//!   without this module, and keeps the slot until the link closes (the browser frees a
//!   closed tab's locks).
//! * **The relay**: the tabs streaming one board in one pattern elect one of them (a
//!   waiting lock, `board-stream-relay:{board}:{pattern}`), which posts every board-wide
//!   frame it receives (changes, pokes, presence lists, heartbeats) on a
//!   `BroadcastChannel` of that board and pattern, with the epoch its seqs count in.
//! * **A follower**: a tab that finds no slot free listens on that channel, and also asks
//!   the server itself every [`WAIT_MS`] (a short poll from where it is): that keeps it on
//!   the presence list and brings its own letters (WebRTC signals), catches up what it
//!   missed before it listened, and keeps it current if no tab relays its board at all.
//!   Each time, it tries for a slot again, and opens its own stream when one is free.
//!
//! Nothing here decides what a frame means: the engine applies, skips or backfills a
//! relayed frame as it would the same frame from its own stream, so one that arrives twice
//! (from the relay and the poll) or after a gap is handled by the seq rule. The link tells
//! the engine which of the three it is ([`Sharing`]), and the page says so.
//!
//! Not used when the page came over HTTP/2 or HTTP/3 (all streams share one connection,
//! with no such limit), for WebSockets (not counted against the six), or where the browser
//! has no Web Locks (not a secure context): there each tab streams for itself.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use leptos::task::spawn_local;
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{BroadcastChannel, MessageEvent};

use super::requests;
use crate::sync::platform::{Link, LinkEvent, Opening, Report, Sharing};
use crate::sync::tabs;
use board_core::api::Position;
use board_core::patterns::Frame;
use board_core::protocol::Transport;

/// How many streams one browser holds to the origin: four of its six connections, so
/// that pages, commands and the followers' polls always have two.
pub const STREAMS: usize = 4;
/// How often a follower asks the server itself, and tries for a slot.
const WAIT_MS: u32 = 5_000;
/// A relay not heard for this long is gone (it relays a heartbeat every 15 s at least):
/// the follower says it is waiting rather than that it is live.
const RELAY_SILENT_MS: f64 = 40_000.0;

/// Does a link of `transport` count against the browser's connections here?
pub fn applies(transport: Transport) -> bool {
    matches!(transport, Transport::Sse | Transport::LongPoll) && !multiplexed() && tabs::can_lock()
}

/// Did the page come over HTTP/2 or HTTP/3 (the navigation's `nextHopProtocol`)?
fn multiplexed() -> bool {
    let Some(performance) = web_sys::window().and_then(|w| w.performance()) else {
        return false;
    };
    let navigation = performance.get_entries_by_type("navigation").get(0);
    let protocol = js_sys::Reflect::get(&navigation, &JsValue::from_str("nextHopProtocol"))
        .ok()
        .and_then(|p| p.as_string())
        .unwrap_or_default();
    protocol.starts_with("h2") || protocol.starts_with("h3")
}

/// What the tabs of one board and pattern tell each other on their channel.
#[derive(Serialize, Deserialize)]
#[serde(tag = "relay", rename_all = "kebab-case")]
enum Relay {
    /// A board-wide frame the relaying tab received, and the epoch its seq counts in.
    Frame { frame: Frame, epoch: Option<String> },
    /// A tab that starts to follow asks whoever relays to say so (with a heartbeat at the
    /// head it knows, which also tells the follower whether it is behind).
    Ask,
}

/// Is `frame` the same for every tab of the board (else it is this connection's own:
/// `hello`, a command's answer, a letter, a reset from its position)?
fn board_wide(frame: &Frame) -> bool {
    matches!(
        frame,
        Frame::Heartbeat { .. }
            | Frame::Presence { .. }
            | Frame::Poke { .. }
            | Frame::State { .. }
            | Frame::Ops { .. }
            | Frame::Event { .. }
            | Frame::EventDiff { .. }
    )
}

/// A stream within the browser's budget: its own, or another tab's.
pub struct SharedLink(Rc<Budget>);

impl Link for SharedLink {
    fn close(self: Box<Self>) {
        self.0.close();
    }
}

struct Budget {
    /// What the engine asked for; `from` is replaced by [`Budget::at`] when a stream opens later.
    opening: Opening,
    report: Report,
    /// Where the tab is, as far as the frames reported so far say: an own stream opened
    /// after following starts there.
    at: RefCell<Position>,
    /// The newest head this link heard of (what the relay tells a follower that asks).
    head: Cell<u64>,
    mode: RefCell<Mode>,
    /// This tab is the one that relays (it holds the relay lock while it streams).
    relaying: Cell<bool>,
    /// Following: the seq the relay brought the tab to, so its polls start after it.
    relayed: Rc<Cell<u64>>,
    /// Following: when the relay was last heard (Unix ms; 0: never).
    heard_at: Cell<f64>,
    sharing: Cell<Option<Sharing>>,
    closed: Cell<bool>,
    channel: Option<BroadcastChannel>,
    /// The channel's listener, while the link lives.
    listener: RefCell<Option<OnMessage>>,
}

type OnMessage = Closure<dyn FnMut(MessageEvent)>;

enum Mode {
    /// Looking for a free slot.
    Starting,
    /// Its own stream, the slot it holds, and its place in the relay's election.
    Own {
        link: Box<dyn Link>,
        _slot: Box<dyn Any>,
        _relay: Box<dyn Any>,
    },
    /// The poll beside the relay.
    Following {
        link: Box<dyn Link>,
    },
    Closed,
}

/// Opens a stream within the browser's budget (see the module's doc).
pub fn open(opening: Opening, report: Report) -> SharedLink {
    let name = format!("board-stream:{}:{}", opening.board, opening.pattern);
    let budget = Rc::new(Budget {
        at: RefCell::new(opening.from.clone()),
        head: Cell::new(opening.from.seq),
        opening,
        report,
        mode: RefCell::new(Mode::Starting),
        relaying: Cell::new(false),
        relayed: Rc::default(),
        heard_at: Cell::new(0.0),
        sharing: Cell::new(None),
        closed: Cell::new(false),
        channel: BroadcastChannel::new(&name).ok(),
        listener: RefCell::default(),
    });
    budget.listen();
    spawn_local(run(Rc::downgrade(&budget)));
    SharedLink(budget)
}

/// Takes a slot if one is free; else follows, and tries again every [`WAIT_MS`].
async fn run(budget: Weak<Budget>) {
    loop {
        let Some(this) = budget.upgrade().filter(|b| !b.closed.get()) else {
            return;
        };
        if let Some(slot) = free_slot().await {
            // The link may have closed while the browser answered: the slot goes with it.
            if !this.closed.get() {
                this.stream(slot);
            }
            return;
        }
        if this.closed.get() {
            return;
        }
        if matches!(*this.mode.borrow(), Mode::Starting) {
            this.follow();
        } else if this.sharing.get() == Some(Sharing::Relayed) && now() - this.heard_at.get() > RELAY_SILENT_MS {
            this.tell(Sharing::Waiting);
        }
        drop(this);
        gloo_timers::future::TimeoutFuture::new(WAIT_MS).await;
    }
}

/// One of the browser's stream slots, if one is free now.
async fn free_slot() -> Option<Box<dyn Any>> {
    for slot in 0..STREAMS {
        if let Some(held) = tabs::try_hold(&format!("stream-slot:{slot}")).await {
            return Some(held);
        }
    }
    None
}

impl Budget {
    /// Opens this tab's own stream from where it is, holding `slot`.
    fn stream(self: &Rc<Self>, slot: Box<dyn Any>) {
        // The poll stops before the stream starts: nothing of the two interleaves.
        if let Mode::Following { link } = self.mode.replace(Mode::Starting) {
            link.close();
        }
        let mut opening = self.opening.clone();
        opening.from = self.at.borrow().clone();
        let Some(link) = super::direct(opening, self.observer()) else {
            return (self.report)(LinkEvent::Failed);
        };
        let relay = {
            let this = Rc::downgrade(self);
            let name = format!("board-stream-relay:{}:{}", self.opening.board, self.opening.pattern);
            tabs::hold(
                &name,
                Rc::new(move || {
                    if let Some(this) = this.upgrade() {
                        this.relaying.set(true);
                        // Followers that asked before there was a relay hear of it now.
                        this.relay_head();
                    }
                }),
            )
        };
        *self.mode.borrow_mut() = Mode::Own { link, _slot: slot, _relay: relay };
        self.tell(Sharing::Own);
    }

    /// Follows the relay, with a slow poll of its own beside it.
    fn follow(self: &Rc<Self>) {
        let mut opening = self.opening.clone();
        opening.transport = Transport::Poll;
        opening.poll_ms = Rc::new(|| WAIT_MS);
        opening.from = self.at.borrow().clone();
        let link = requests::open_after(opening, self.observer(), Some(self.relayed.clone()));
        *self.mode.borrow_mut() = Mode::Following { link: Box::new(link) };
        self.tell(Sharing::Waiting);
        self.post(&Relay::Ask);
    }

    /// What the inner link reports goes to the engine; on the way this link learns where
    /// the tab is, and (relaying) tells the followers.
    fn observer(self: &Rc<Self>) -> Report {
        let this = Rc::downgrade(self);
        Rc::new(move |event: LinkEvent| {
            let Some(this) = this.upgrade() else { return };
            if this.closed.get() {
                return;
            }
            match &event {
                LinkEvent::Frame(frame, _) => {
                    this.saw(frame);
                    if board_wide(frame) && this.relays() {
                        this.relay(frame.clone());
                    }
                }
                LinkEvent::Epoch(epoch) => this.at.borrow_mut().epoch = Some(epoch.clone()),
                // A long-poll's answer names the head: followers hear it as a heartbeat.
                LinkEvent::AtHead(head) => {
                    this.head.set(this.head.get().max(*head));
                    if this.relays() {
                        this.relay_head();
                    }
                }
                _ => {}
            }
            (this.report)(event);
        })
    }

    /// Moves the tab's position and the head past a frame it is given.
    fn saw(&self, frame: &Frame) {
        let mut at = self.at.borrow_mut();
        match frame {
            Frame::Hello { head, epoch, .. } => {
                if !epoch.is_empty() {
                    at.epoch = Some(epoch.clone());
                }
                self.head.set(self.head.get().max(*head));
            }
            Frame::Reset { head } => at.seq = *head,
            Frame::Heartbeat { head } => self.head.set(self.head.get().max(*head)),
            other => {
                if let Some(seq) = other.seq() {
                    at.seq = at.seq.max(seq);
                    self.head.set(self.head.get().max(seq));
                }
            }
        }
    }

    /// Does this tab relay its stream to the followers now?
    fn relays(&self) -> bool {
        self.relaying.get() && matches!(*self.mode.borrow(), Mode::Own { .. })
    }

    /// Tells the followers a frame, with the epoch its seq counts in.
    fn relay(&self, frame: Frame) {
        self.post(&Relay::Frame { frame, epoch: self.epoch() });
    }

    /// Tells the followers the head this tab knows (a heartbeat).
    fn relay_head(&self) {
        self.relay(Frame::Heartbeat { head: self.head.get() });
    }

    fn epoch(&self) -> Option<String> {
        self.at.borrow().epoch.clone()
    }

    fn tell(&self, sharing: Sharing) {
        if self.sharing.replace(Some(sharing)) != Some(sharing) {
            (self.report)(LinkEvent::Sharing(sharing));
        }
    }

    fn post(&self, relay: &Relay) {
        if let (Some(channel), Ok(json)) = (&self.channel, serde_json::to_string(relay)) {
            let _ = channel.post_message(&JsValue::from_str(&json));
        }
    }

    /// Listens on the board's channel: a follower takes the relayed frames, the relay
    /// answers a follower that asks.
    fn listen(self: &Rc<Self>) {
        let Some(channel) = &self.channel else { return };
        let this = Rc::downgrade(self);
        let listener = OnMessage::new(move |message: MessageEvent| {
            let Some(this) = this.upgrade() else { return };
            // Another version of the page (mid-deployment) may say what this one cannot read.
            let Some(relay) = message.data().as_string().and_then(|json| serde_json::from_str::<Relay>(&json).ok())
            else {
                return;
            };
            this.heard(relay);
        });
        channel.set_onmessage(Some(listener.as_ref().unchecked_ref()));
        *self.listener.borrow_mut() = Some(listener);
    }

    fn heard(&self, relay: Relay) {
        if self.closed.get() {
            return;
        }
        match relay {
            Relay::Ask if self.relays() => self.relay_head(),
            Relay::Frame { frame, epoch } if matches!(*self.mode.borrow(), Mode::Following { .. }) => {
                self.heard_at.set(now());
                self.tell(Sharing::Relayed);
                if let Some(epoch) = epoch.filter(|e| self.epoch().as_ref() != Some(e)) {
                    self.at.borrow_mut().epoch = Some(epoch.clone());
                    (self.report)(LinkEvent::Epoch(epoch));
                }
                self.saw(&frame);
                self.relayed.set(self.at.borrow().seq);
                // Nothing crossed this tab's network: another tab's stream carried it.
                (self.report)(LinkEvent::Frame(frame, 0));
            }
            _ => {}
        }
    }

    fn close(&self) {
        self.closed.set(true);
        match self.mode.replace(Mode::Closed) {
            Mode::Own { link, .. } | Mode::Following { link } => link.close(),
            Mode::Starting | Mode::Closed => {}
        }
        if let Some(channel) = &self.channel {
            channel.set_onmessage(None);
            channel.close();
        }
        self.listener.borrow_mut().take();
    }
}

fn now() -> f64 {
    js_sys::Date::now()
}
