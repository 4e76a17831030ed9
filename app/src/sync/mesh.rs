//! The page's peer-to-peer mesh for cursors: a WebRTC data channel to each other tab on the
//! board (at most [`MAX_PEERS`]), negotiated through the server's signalling, carrying
//! pointer positions straight from browser to browser. Browser only.
//!
//! * Who connects to whom follows the presence list: each tab peers with the [`MAX_PEERS`]
//!   others whose pair with it ranks highest (`presence::peer_rank`: a hash of the two ids, the same
//!   from either side), so no id, however chosen, makes a tab everyone's peer (a peer
//!   learns the other's network addresses); of two tabs, the one with the smaller client id
//!   makes the offer (so two never offer to each other at once); the other answers. Offers, answers and ICE candidates go through `BoardClient::signal`, and
//!   arrive as `signal` frames ([`Mesh::letter`]).
//! * The channel is unordered and unreliable (`maxRetransmits: 0`): a late position is
//!   worth less than none, so none is resent. Positions are sent at most 20 a second.
//! * A tab whose channel did not open within [`OPEN_WITHIN_MS`] (or that is beyond the
//!   mesh's size, or when this browser has no WebRTC at all) gets positions through the
//!   server instead, as relayed `cursor` frames; each cursor shows which way it came.
//! * `ICE_SERVERS` on the server (`GET /api/ice-servers`) names STUN/TURN servers for real
//!   networks; on loopback the host candidates are enough.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::{Rc, Weak};

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    MessageEvent, RtcConfiguration, RtcDataChannel, RtcDataChannelEvent, RtcDataChannelInit, RtcDataChannelState,
    RtcIceCandidateInit, RtcPeerConnection, RtcPeerConnectionIceEvent, RtcSdpType, RtcSessionDescriptionInit,
};

use super::client::{BoardClient, CursorLink, RemoteCursor};
use board_core::patterns::Frame;
use board_core::presence::{Cursor, Signal, EVERYONE};

/// The most peers one tab connects to directly: a mesh costs every tab a connection per
/// peer, so past a handful the relay (or an SFU) is the better deal.
pub const MAX_PEERS: usize = 8;
/// How long a channel may take to open before that peer's cursors go through the relay.
pub const OPEN_WITHIN_MS: f64 = 5000.0;
/// At most 20 positions a second.
pub const SEND_EVERY_MS: f64 = 50.0;
/// How many times the offering side starts a connection over when its channel did not open
/// in time (the other side may have dropped it, or never had the offer).
const OFFERS: u32 = 3;
/// Letters from tabs not on our list yet, kept for when they are: at most this many tabs,
/// this many letters each, for at most [`OPEN_WITHIN_MS`].
const EARLY_TABS: usize = 16;
const EARLY_LETTERS: usize = 32;

/// What goes through the signalling: the session descriptions and ICE candidates.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Negotiation {
    Offer {
        sdp: String,
    },
    Answer {
        sdp: String,
    },
    Candidate {
        candidate: String,
        #[serde(rename = "sdpMid", default)]
        sdp_mid: Option<String>,
        #[serde(rename = "sdpMLineIndex", default)]
        sdp_m_line_index: Option<u16>,
    },
}

pub struct Mesh {
    client: BoardClient,
    /// `None` when this browser has no WebRTC: every peer is reached by the relay.
    config: Option<RtcConfiguration>,
    peers: RefCell<HashMap<String, Peer>>,
    /// When each other tab was first seen on the list (its channel's deadline), by id.
    seen: RefCell<BTreeMap<String, f64>>,
    /// The tabs this one peers with: the [`MAX_PEERS`] that rank highest with it.
    mesh: RefCell<BTreeSet<String>>,
    /// Signals from tabs that are not on our list yet, with when they came. Signals and
    /// presence lists travel apart: an offer can arrive before the list that names its
    /// sender, and dropping it left the offering side waiting on a dead connection.
    early: RefCell<HashMap<String, Vec<(f64, Negotiation)>>>,
    /// How many offers this tab made to each peer (see [`OFFERS`]).
    offers: RefCell<HashMap<String, u32>>,
    /// When a position was last sent, and one waiting for its turn.
    last_sent: Cell<f64>,
    waiting: Cell<Option<(f64, f64)>>,
    me: Weak<Mesh>,
}

/// One peer connection and its data channel.
struct Peer {
    connection: RtcPeerConnection,
    channel: Rc<RefCell<Option<RtcDataChannel>>>,
    /// Set once the remote description is: candidates that come before it wait.
    described: Rc<Cell<bool>>,
    early: Rc<RefCell<Vec<RtcIceCandidateInit>>>,
    /// The callbacks live as long as the connection that calls them.
    _callbacks: Vec<Closure<dyn FnMut(JsValue)>>,
}

impl Peer {
    fn open(&self) -> bool {
        self.channel.borrow().as_ref().is_some_and(|c| c.ready_state() == RtcDataChannelState::Open)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.connection.set_onicecandidate(None);
        self.connection.set_ondatachannel(None);
        if let Some(channel) = self.channel.borrow().as_ref() {
            channel.set_onmessage(None);
        }
        self.connection.close();
    }
}

/// Does this browser have WebRTC? (A page or a test may have removed it.)
fn has_webrtc() -> bool {
    web_sys::window()
        .and_then(|w| js_sys::Reflect::get(&w, &JsValue::from_str("RTCPeerConnection")).ok())
        .is_some_and(|v| v.is_function())
}

fn now() -> f64 {
    js_sys::Date::now()
}

impl Mesh {
    /// Starts the mesh for `client`: follows its presence list from now on.
    pub async fn start(client: BoardClient) -> Rc<Mesh> {
        let config = match has_webrtc() {
            true => {
                let config = RtcConfiguration::new();
                if let Some(servers) = super::http::ice_servers().await {
                    config.set_ice_servers(&servers);
                }
                Some(config)
            }
            false => None,
        };
        let mesh = Rc::new_cyclic(|me| Mesh {
            client,
            config,
            peers: RefCell::default(),
            seen: RefCell::default(),
            mesh: RefCell::default(),
            early: RefCell::default(),
            offers: RefCell::default(),
            last_sent: Cell::new(0.0),
            waiting: Cell::new(None),
            me: me.clone(),
        });
        let follow = Rc::downgrade(&mesh);
        Effect::new(move |_| {
            let members = client.presence.get();
            if let Some(mesh) = follow.upgrade() {
                let others: BTreeSet<String> = members.into_iter().flat_map(|m| m.clients).collect();
                mesh.follow(others);
            }
        });
        mesh
    }

    fn my_id(&self) -> Option<String> {
        self.client.me.get_untracked().map(|me| me.client)
    }

    /// The list changed: connect to new tabs (up to [`MAX_PEERS`]), let go of those gone.
    fn follow(&self, mut others: BTreeSet<String>) {
        let Some(me) = self.my_id() else { return };
        others.remove(&me);
        let t = now();
        self.seen.borrow_mut().retain(|client, _| others.contains(client));
        for client in &others {
            self.seen.borrow_mut().entry(client.clone()).or_insert(t);
        }
        let mesh = board_core::presence::peers_of(&me, &others, MAX_PEERS);
        *self.mesh.borrow_mut() = mesh.clone();
        self.peers.borrow_mut().retain(|client, _| mesh.contains(client));
        self.offers.borrow_mut().retain(|client, _| mesh.contains(client));
        if self.config.is_none() {
            return;
        }
        for client in mesh {
            // The smaller id offers; the other waits for the offer.
            if me < client && !self.peers.borrow().contains_key(&client) {
                self.start_over(client.clone());
            }
            // What a tab sent before the list named it.
            let early = self.early.borrow_mut().remove(&client).unwrap_or_default();
            for (_, negotiation) in early {
                self.negotiation(client.clone(), negotiation);
            }
        }
    }

    /// (Re)connects to `client` as the offering side: a new connection and its offer, and
    /// a look after [`OPEN_WITHIN_MS`]: a channel not open by then is started over (up to
    /// [`OFFERS`] times), since the other tab may have let its side go (it briefly missed
    /// us on its list) and would otherwise wait for an offer that never comes.
    fn start_over(&self, client: String) {
        let made = {
            let mut offers = self.offers.borrow_mut();
            let made = offers.entry(client.clone()).or_insert(0);
            *made += 1;
            *made
        };
        if made > OFFERS {
            return;
        }
        let Some(peer) = self.connect(&client, true) else { return };
        let connection = peer.connection.clone();
        self.peers.borrow_mut().insert(client.clone(), peer);
        self.offer(client.clone());
        let me = self.me.clone();
        spawn_local(async move {
            gloo_timers::future::TimeoutFuture::new(OPEN_WITHIN_MS as u32).await;
            let Some(mesh) = me.upgrade() else { return };
            // Still this connection, still in the mesh, and not open: once more.
            let stuck = mesh.peers.borrow().get(&client).is_some_and(|p| p.connection == connection && !p.open());
            if stuck {
                mesh.peers.borrow_mut().remove(&client);
                mesh.start_over(client);
            }
        });
    }

    /// A new peer connection to `client`; as the offerer it makes the data channel.
    fn connect(&self, client: &str, offerer: bool) -> Option<Peer> {
        let connection = RtcPeerConnection::new_with_configuration(self.config.as_ref()?).ok()?;
        let channel: Rc<RefCell<Option<RtcDataChannel>>> = Rc::default();
        let mut callbacks = Vec::new();
        // Our candidates go to the peer as they are found.
        let (me, to) = (self.me.clone(), client.to_owned());
        let on_candidate = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
            let Some(candidate) = event.unchecked_into::<RtcPeerConnectionIceEvent>().candidate() else { return };
            if let Some(mesh) = me.upgrade() {
                mesh.negotiate(
                    &to,
                    Negotiation::Candidate {
                        candidate: candidate.candidate(),
                        sdp_mid: candidate.sdp_mid(),
                        sdp_m_line_index: candidate.sdp_m_line_index(),
                    },
                );
            }
        });
        connection.set_onicecandidate(Some(on_candidate.as_ref().unchecked_ref()));
        callbacks.push(on_candidate);
        let on_message = self.on_message(client);
        if offerer {
            let init = RtcDataChannelInit::new();
            init.set_ordered(false);
            init.set_max_retransmits(0);
            let made = connection.create_data_channel_with_data_channel_dict("cursors", &init);
            made.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
            *channel.borrow_mut() = Some(made);
        } else {
            let (slot, on_message) = (channel.clone(), on_message.as_ref().clone());
            let on_channel = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
                let made = event.unchecked_into::<RtcDataChannelEvent>().channel();
                made.set_onmessage(Some(on_message.unchecked_ref()));
                *slot.borrow_mut() = Some(made);
            });
            connection.set_ondatachannel(Some(on_channel.as_ref().unchecked_ref()));
            callbacks.push(on_channel);
        }
        callbacks.push(on_message);
        Some(Peer { connection, channel, described: Rc::default(), early: Rc::default(), _callbacks: callbacks })
    }

    /// A position from `client` over the data channel: `{"x":..,"y":..}`.
    fn on_message(&self, client: &str) -> Closure<dyn FnMut(JsValue)> {
        let (cursors, from) = (self.client.cursors, client.to_owned());
        Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
            let Some(text) = event.unchecked_into::<MessageEvent>().data().as_string() else { return };
            if let Ok(cursor) = serde_json::from_str::<Cursor>(&text) {
                if cursor.valid() {
                    let remote = RemoteCursor { x: cursor.x, y: cursor.y, link: CursorLink::P2p };
                    cursors.update(|c| {
                        c.insert(from.clone(), remote);
                    });
                }
            }
        })
    }

    /// Makes the offer to `client` and sends it.
    fn offer(&self, client: String) {
        let me = self.me.clone();
        spawn_local(async move {
            let Some(connection) =
                me.upgrade().and_then(|m| m.peers.borrow().get(&client).map(|p| p.connection.clone()))
            else {
                return;
            };
            let Ok(offer) = JsFuture::from(connection.create_offer()).await else { return };
            let sdp = sdp_of(&offer);
            let description = RtcSessionDescriptionInit::new(RtcSdpType::Offer);
            description.set_sdp(&sdp);
            if JsFuture::from(connection.set_local_description(&description)).await.is_ok() {
                if let Some(mesh) = me.upgrade() {
                    mesh.negotiate(&client, Negotiation::Offer { sdp });
                }
            }
        });
    }

    fn negotiate(&self, to: &str, negotiation: Negotiation) {
        let Some(from) = self.my_id() else { return };
        let data = serde_json::to_value(&negotiation).expect("negotiations serialise");
        self.client.signal(Signal { from, to: to.to_owned(), data: Some(data), cursor: None, secret: None });
    }

    /// A signal or a relayed cursor for this tab.
    pub fn letter(&self, frame: Frame) {
        match frame {
            Frame::Signal { from, data } => {
                if let Ok(negotiation) = serde_json::from_value::<Negotiation>(data) {
                    self.negotiation(from, negotiation);
                }
            }
            Frame::Cursor { from, x, y } => {
                // While the channel is open, its positions are the fresher ones.
                if self.peers.borrow().get(&from).is_some_and(Peer::open) {
                    return;
                }
                let remote = RemoteCursor { x, y, link: CursorLink::Relay };
                self.client.cursors.update(|c| {
                    c.insert(from, remote);
                });
            }
            _ => {}
        }
    }

    fn negotiation(&self, from: String, negotiation: Negotiation) {
        if self.config.is_none() {
            return;
        }
        // The first signal from a tab that offers to us (the smaller id) makes our side of
        // the connection, whether it is the offer or one of its ICE candidates: a tab on an
        // HTTP transport sends each signal as a request of its own, so a candidate can
        // overtake the offer, and must wait for it (`early`) rather than be dropped (with
        // one host candidate on loopback, the channel then never opened).
        let offers_to_us = self.my_id().is_some_and(|me| from < me);
        // A new offer where we have a connection: the other side started over (its
        // channel did not open), so ours goes too.
        let described = self.peers.borrow().get(&from).is_some_and(|p| p.described.get());
        if offers_to_us && described && matches!(negotiation, Negotiation::Offer { .. }) {
            self.peers.borrow_mut().remove(&from);
        }
        if offers_to_us && !self.peers.borrow().contains_key(&from) {
            // Only a tab in our mesh gets an answer; one not on our list yet may be soon.
            if !self.mesh.borrow().contains(&from) {
                return self.keep_early(from, negotiation);
            }
            let Some(peer) = self.connect(&from, false) else { return };
            self.peers.borrow_mut().insert(from.clone(), peer);
        }
        let Some((connection, described, early)) =
            self.peers.borrow().get(&from).map(|p| (p.connection.clone(), p.described.clone(), p.early.clone()))
        else {
            return;
        };
        let me = self.me.clone();
        spawn_local(async move {
            match negotiation {
                Negotiation::Offer { sdp } | Negotiation::Answer { sdp } if described.get() => {
                    let _ = sdp;
                }
                Negotiation::Offer { sdp } => {
                    let description = RtcSessionDescriptionInit::new(RtcSdpType::Offer);
                    description.set_sdp(&sdp);
                    if JsFuture::from(connection.set_remote_description(&description)).await.is_err() {
                        return;
                    }
                    described.set(true);
                    add_early(&connection, &early).await;
                    let Ok(answer) = JsFuture::from(connection.create_answer()).await else { return };
                    let sdp = sdp_of(&answer);
                    let description = RtcSessionDescriptionInit::new(RtcSdpType::Answer);
                    description.set_sdp(&sdp);
                    if JsFuture::from(connection.set_local_description(&description)).await.is_ok() {
                        if let Some(mesh) = me.upgrade() {
                            mesh.negotiate(&from, Negotiation::Answer { sdp });
                        }
                    }
                }
                Negotiation::Answer { sdp } => {
                    let description = RtcSessionDescriptionInit::new(RtcSdpType::Answer);
                    description.set_sdp(&sdp);
                    if JsFuture::from(connection.set_remote_description(&description)).await.is_ok() {
                        described.set(true);
                        add_early(&connection, &early).await;
                    }
                }
                Negotiation::Candidate { candidate, sdp_mid, sdp_m_line_index } => {
                    let init = RtcIceCandidateInit::new(&candidate);
                    init.set_sdp_mid(sdp_mid.as_deref());
                    init.set_sdp_m_line_index(sdp_m_line_index);
                    if described.get() {
                        let _ =
                            JsFuture::from(connection.add_ice_candidate_with_opt_rtc_ice_candidate_init(Some(&init)))
                                .await;
                    } else {
                        early.borrow_mut().push(init);
                    }
                }
            }
        });
    }

    /// Keeps a signal from a tab not on our list yet (bounded; stale ones go first).
    fn keep_early(&self, from: String, negotiation: Negotiation) {
        let t = now();
        let mut early = self.early.borrow_mut();
        early.retain(|_, letters| letters.first().is_some_and(|(at, _)| t - at < OPEN_WITHIN_MS));
        if early.len() >= EARLY_TABS && !early.contains_key(&from) {
            return;
        }
        let letters = early.entry(from).or_default();
        if letters.len() < EARLY_LETTERS {
            letters.push((t, negotiation));
        }
    }

    /// The pointer moved to (`x`, `y`), fractions of the board: send it, at most every
    /// [`SEND_EVERY_MS`] (a move within that waits, and only the latest is sent).
    pub fn moved(&self, x: f64, y: f64) {
        let waited = now() - self.last_sent.get();
        if waited >= SEND_EVERY_MS {
            self.send(x, y);
            return;
        }
        if self.waiting.replace(Some((x, y))).is_none() {
            let me = self.me.clone();
            spawn_local(async move {
                gloo_timers::future::TimeoutFuture::new((SEND_EVERY_MS - waited).max(1.0) as u32).await;
                if let Some(mesh) = me.upgrade() {
                    if let Some((x, y)) = mesh.waiting.take() {
                        mesh.send(x, y);
                    }
                }
            });
        }
    }

    fn send(&self, x: f64, y: f64) {
        self.last_sent.set(now());
        let text = serde_json::to_string(&Cursor { x, y }).expect("a cursor serialises");
        for peer in self.peers.borrow().values().filter(|p| p.open()) {
            if let Some(channel) = peer.channel.borrow().as_ref() {
                let _ = channel.send_with_str(&text);
            }
        }
        if self.needs_relay() {
            if let Some(from) = self.my_id() {
                self.client.signal(Signal {
                    from,
                    to: EVERYONE.into(),
                    data: None,
                    cursor: Some(Cursor { x, y }),
                    secret: None,
                });
            }
        }
    }

    /// Is some other tab out of reach of the mesh: no WebRTC here, beyond the mesh's size,
    /// or its channel not open within [`OPEN_WITHIN_MS`]?
    fn needs_relay(&self) -> bool {
        let t = now();
        let peers = self.peers.borrow();
        let mesh = self.mesh.borrow();
        self.seen.borrow().iter().any(|(client, seen)| {
            self.config.is_none()
                || !mesh.contains(client)
                || (!peers.get(client).is_some_and(Peer::open) && t - seen >= OPEN_WITHIN_MS)
        })
    }
}

/// The `sdp` of a session description that a promise resolved to.
fn sdp_of(description: &JsValue) -> String {
    js_sys::Reflect::get(description, &JsValue::from_str("sdp")).ok().and_then(|v| v.as_string()).unwrap_or_default()
}

/// Adds the candidates that came before the remote description.
async fn add_early(connection: &RtcPeerConnection, early: &RefCell<Vec<RtcIceCandidateInit>>) {
    let waiting = std::mem::take(&mut *early.borrow_mut());
    for init in waiting {
        let _ = JsFuture::from(connection.add_ice_candidate_with_opt_rtc_ice_candidate_init(Some(&init))).await;
    }
}
