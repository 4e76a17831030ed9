//! Presence: who is on each board, and the messages tabs send each other (WebRTC signals,
//! relayed cursors). This is ephemeral state, kept apart from the durable change log on
//! purpose:
//!
//! | | the change log | presence |
//! | --- | --- | --- |
//! | stored | in the database, for ever (or the retained window) | in memory, on the replica that serves the tab |
//! | order | every change, by seq | latest wins: a whole new list replaces the last |
//! | a missed message | repaired from the log (backfill) | repaired by the next list (compare `rev`) |
//! | between replicas | a notice, then the log | each replica's tabs, resent every [`SHARE_EVERY`] |
//! | pace | every change, as it commits | at most every [`TICK`], slower for long lists ([`LIST_BYTES_PER_SECOND`]) |
//!
//! * [`roster`]: the list built from tabs, and its `rev` (the same on every replica).
//! * [`mailbox`]: one tab's waiting signals and cursors.
//!
//! **A tab's id is claimed by the connection that first presents it** ([`Presence::enter`]),
//! with the secret the page made for it (`secret=S`, `board_core::presence::check_secret`), or, for
//! a tool that gives none, with its address: while the tab is on the list, another
//! connection that presents the same id without its claim is refused (`409`), and
//! `/leave`, signals and relayed cursors in its name need the same proof ([`Proof`]; up a
//! WebSocket the socket is the tab). Replicas share each tab's claim (the secret's hash),
//! so a poll client that moves between them keeps its id and nobody else can take it.
//! **Bounded**: one client (address) has at most `MAX_TABS_PER_IP` tabs on a replica
//! (more: `429`); the list names at most 50 people (`roster`); a tab takes in a bounded
//! number of signal bytes a second (`mailbox`).
//!
//! A stream or request enters with [`Presence::enter`] and holds the [`Here`] it gets for
//! as long as it lives; `Here` watches the board's list (a `tokio::sync::watch`: a slow
//! reader skips to the newest list instead of queueing old ones) and drains its tab's
//! mailbox. Leaving is detected per transport: a stream's end (SSE, WebSocket: the tab
//! stays [`LINGER`] so a reconnect does not flicker), a poll's lease running out (each
//! request renews it), or `POST /leave` (a page sends it as it unloads).
//!
//! Between replicas the broker carries three kinds of message (opaque to it): each
//! replica's tabs of a board (a *share*: resent every [`SHARE_EVERY`], dropped by the others
//! when not renewed within [`SHARE_TTL`], so a killed replica's tabs vanish within 10 s),
//! signals for a client on another replica, and relayed cursors.

pub mod mailbox;
pub mod roster;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tokio::time::Instant;

use board_core::patterns::Frame;
use board_core::presence::{check_id, Signal, EVERYONE, MAX_SIGNAL_BYTES};
use board_core::protocol::Transport;

use crate::broker::{Broker, Subscription};
use crate::error::AppError;
pub use mailbox::Mailbox;
pub use roster::{Roster, TabInfo};

/// How often the lists are rebuilt: what changed within one tick goes out as one frame,
/// so a board's list is sent at most ten times a second however many tabs come and go.
pub const TICK: Duration = Duration::from_millis(100);
/// A long list goes out less often: at most this many bytes of lists a second to each
/// stream. Every list goes to every tab, so a board's presence traffic grows with the
/// square of its tabs; this caps it at 64 KiB a second per tab (a list of 1,000 tabs, about
/// 110 KiB, every 1.7 s), trading how soon a join shows for bandwidth.
pub const LIST_BYTES_PER_SECOND: usize = 64 * 1024;
/// How long a tab whose stream closed stays on the list: long enough that a reconnect, or
/// a switch of pattern or transport, does not take it off and put it back.
pub const LINGER: Duration = Duration::from_secs(1);
/// How long a poll or long-poll tab stays after a request at least: the time its next
/// request has to arrive. (A short poll's own interval is added: see [`Stay::request`].)
pub const REQUEST_LEASE: Duration = Duration::from_secs(4);
/// How often a replica tells the others which of its tabs are on each board.
pub const SHARE_EVERY: Duration = Duration::from_secs(2);
/// How long the others believe a share: a replica that stops renewing it (killed, cut
/// off) loses its tabs from every list after this, plus at most a [`TICK`].
pub const SHARE_TTL: Duration = Duration::from_secs(7);

/// How a tab's connection keeps it on the list.
#[derive(Clone, Copy, Debug)]
pub enum Stay {
    /// An open stream (SSE, WebSocket): while it is open, then [`LINGER`].
    Stream,
    /// A request (poll, long-poll): while it is held, then until the lease runs out.
    Request { lease: Duration },
}

impl Stay {
    /// How a tab on `transport` stays on the list: an open stream while it is open, a poll
    /// or long-poll request for its lease (`every_ms`: the poll interval the client says).
    /// The one place presence tells the transports apart.
    pub fn on(transport: Transport, every_ms: Option<u64>) -> Stay {
        match transport {
            Transport::Sse | Transport::Ws => Stay::Stream,
            Transport::Poll => Stay::request(every_ms),
            Transport::LongPoll => Stay::request(None),
        }
    }

    /// A request's lease: [`REQUEST_LEASE`] plus twice the interval the client says it
    /// polls at, if it says (capped at two minutes).
    pub fn request(every_ms: Option<u64>) -> Stay {
        let every = Duration::from_millis(every_ms.unwrap_or(0).min(60_000));
        Stay::Request { lease: REQUEST_LEASE + every * 2 }
    }
}

/// What a stream or request wants of the presence list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wants {
    /// Every list, starting with the current one unless the client holds rev `holds`.
    Lists { holds: Option<u64> },
    /// No lists, only letters: a poll or long-poll client that never asked (a list would
    /// end each of its holds, for nothing).
    Letters,
}

impl Wants {
    /// What a tab on `transport` wants: a stream, every list; a poll or long-poll client,
    /// the lists it has not seen (`holds`: the rev it has) once it `takes_part` (names
    /// itself or a rev), else only letters.
    pub fn on(transport: Transport, holds: Option<u64>, takes_part: bool) -> Wants {
        match transport {
            Transport::Sse | Transport::Ws => Wants::Lists { holds: None },
            Transport::Poll | Transport::LongPoll if takes_part => Wants::Lists { holds },
            Transport::Poll | Transport::LongPoll => Wants::Letters,
        }
    }
}

/// Every board's presence on this replica.
#[derive(Default)]
pub struct Presence {
    boards: Mutex<HashMap<String, Board>>,
    /// Tabs on this replica per client address (all boards): bounded by `max_tabs_per_ip`.
    /// Locked after `boards` when both are.
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    /// `MAX_TABS_PER_IP` (0: the default, [`MAX_TABS_PER_IP`]).
    max_tabs_per_ip: usize,
    /// Set once at start (the broker needs this as its listener first).
    broker: OnceLock<Arc<dyn Broker>>,
}

/// Tabs one client address may have on a replica at once, by default: a class behind one
/// address, a few tabs each.
pub const MAX_TABS_PER_IP: usize = 100;

/// Who a request that names a tab is, for the checks that it is that tab.
#[derive(Clone, Copy, Debug)]
pub enum Proof<'a> {
    /// A WebSocket: it is the tab it entered as (`None`: it gave no client id).
    Socket(Option<&'a str>),
    /// A request (`POST /signal`, `/leave`): the client's address and the secret it gave.
    Request { ip: IpAddr, secret: Option<&'a str> },
}

/// The SHA-256 of a tab's secret, as tabs keep and replicas share it.
fn claim_of(secret: &str) -> String {
    Sha256::digest(secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// A tab's id is in use: the answer to a connection that presents it without its claim.
fn in_use(client: &str) -> AppError {
    AppError::InUse(format!("client id {client} is in use by another connection; a tab makes up its own"))
}

/// One board's presence on this replica.
struct Board {
    /// This replica's tabs, by client id.
    tabs: HashMap<String, Tab>,
    /// The other replicas' tabs, by replica, as last heard.
    remote: HashMap<String, Share>,
    /// The list as last built; every stream of the board watches it.
    roster: watch::Sender<Arc<Roster>>,
    /// Rebuild the list at the next tick.
    changed: bool,
    /// Not before then: the last list's size paces the next (`LIST_BYTES_PER_SECOND`).
    next_list: Instant,
    /// Tell the other replicas our tabs at the next tick.
    tell: bool,
    /// Ask the other replicas for theirs at the next tick (we just began to serve the board).
    ask: bool,
    /// When we last told them.
    told: Option<Instant>,
    /// Keeps this replica following the board's channel while it has tabs: a poll tab
    /// between requests holds no stream, but its replica must still hear the others.
    follow: Option<Subscription>,
}

struct Tab {
    info: TabInfo,
    /// The address it came from: what a tab without a secret is claimed by, and counted on.
    ip: IpAddr,
    /// Streams or held requests of this tab open now.
    open: u32,
    /// Present until then, open or not.
    until: Instant,
    /// The tab said it is going (`POST /leave`): gone, whatever is still open.
    leaving: bool,
    mailbox: Arc<Mailbox>,
}

impl Tab {
    fn present(&self, now: Instant) -> bool {
        (self.open > 0 && !self.leaving) || now < self.until
    }

    /// Is the connection with this address and secret the one that claimed this tab?
    fn claimed_by(&self, ip: IpAddr, secret: Option<&str>) -> bool {
        match (&self.info.claim, secret) {
            (Some(claim), Some(secret)) => *claim == claim_of(secret),
            (None, None) => self.ip == ip,
            _ => false,
        }
    }
}

/// Another replica's tabs of a board, and when we heard them.
struct Share {
    tabs: Vec<TabInfo>,
    heard: Instant,
}

/// What replicas tell each other about a board, through the broker.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
enum Message {
    /// All of the sender's tabs on the board (latest wins). `ask`: the sender has just
    /// begun to serve the board and wants everyone's share now, not at their next turn.
    Share { tabs: Vec<TabInfo>, ask: bool },
    /// A signal frame for one client.
    Signal { to: String, frame: String },
    /// A relayed cursor frame for every tab but its sender's.
    Cursor { from: String, frame: String },
}

impl Presence {
    /// Presence with at most `max_tabs_per_ip` tabs per client address (0: the default).
    pub fn new(max_tabs_per_ip: usize) -> Presence {
        Presence { max_tabs_per_ip, ..Presence::default() }
    }

    /// Gives presence the broker it tells the other replicas through.
    pub fn attach(&self, broker: Arc<dyn Broker>) {
        let _ = self.broker.set(broker);
    }

    fn max_tabs_per_ip(&self) -> usize {
        if self.max_tabs_per_ip == 0 {
            MAX_TABS_PER_IP
        } else {
            self.max_tabs_per_ip
        }
    }

    /// A stream or request of the board begins. With a `tab`, that tab is on the list
    /// (from the next tick) while the returned [`Here`] lives and as `stay` says after,
    /// claimed by `secret` (or by `ip` when it gives none): `409` when the tab's id is on
    /// the board already and claimed otherwise, `429` when `ip` has too many tabs here.
    /// Without a tab (a tool that gave no client id) it only watches.
    pub async fn enter(
        self: &Arc<Self>,
        board: &str,
        tab: Option<TabInfo>,
        stay: Stay,
        ip: IpAddr,
        secret: Option<&str>,
    ) -> Result<Here, AppError> {
        let now = Instant::now();
        let (roster, mailbox, needs_follow) = {
            let mut boards = self.boards.lock().expect("presence lock");
            let entry = boards.entry(board.to_owned()).or_insert_with(Board::new);
            let mailbox = match &tab {
                Some(tab) => Some(self.claim(entry, tab, stay, now, ip, secret)?),
                None => None,
            };
            let needs_follow = mailbox.is_some() && entry.follow.is_none();
            (entry.roster.subscribe(), mailbox, needs_follow)
        };
        if needs_follow {
            if let Some(broker) = self.broker.get() {
                let follow = broker.subscribe(board).await;
                if let Some(entry) = self.boards.lock().expect("presence lock").get_mut(board) {
                    entry.follow.get_or_insert(follow);
                }
            }
        }
        Ok(Here {
            presence: self.clone(),
            board: board.to_owned(),
            client: tab.map(|tab| tab.identity.client),
            stay,
            roster,
            mailbox,
        })
    }

    /// Puts `tab` on `entry` (or finds it there, claimed by this connection); its mailbox.
    fn claim(
        &self,
        entry: &mut Board,
        tab: &TabInfo,
        stay: Stay,
        now: Instant,
        ip: IpAddr,
        secret: Option<&str>,
    ) -> Result<Arc<Mailbox>, AppError> {
        let client = &tab.identity.client;
        let until = match stay {
            Stay::Stream => now,
            Stay::Request { lease } => now + lease,
        };
        let present = entry.tabs.get(client).filter(|t| t.present(now));
        match present {
            Some(held) if !held.claimed_by(ip, secret) => return Err(in_use(client)),
            Some(_) => {}
            None => {
                // On the board through another replica (a poll client that moved): only
                // with its claim.
                let claim = secret.map(claim_of);
                let elsewhere = entry.remote.values().flat_map(|s| &s.tabs).find(|t| t.identity.client == *client);
                if elsewhere.is_some_and(|t| t.claim.is_none() || t.claim != claim) {
                    return Err(in_use(client));
                }
                // One that had left but was not swept yet is counted on its address.
                if let Some(gone) = entry.tabs.remove(client) {
                    self.uncount(gone.ip);
                }
                {
                    let mut per_ip = self.per_ip.lock().expect("presence lock");
                    let here = per_ip.entry(ip).or_default();
                    if *here >= self.max_tabs_per_ip() {
                        metrics::counter!("board_limited_total", "limit" => "tabs").increment(1);
                        return Err(AppError::TooMany {
                            message: format!("at most {} tabs from one address", self.max_tabs_per_ip()),
                            retry_after: Some(Duration::from_secs(10)),
                        });
                    }
                    *here += 1;
                }
                // A new tab (or one that had left): claimed now, by this connection.
                let info = TabInfo { joined: now_ms(), claim, ..tab.clone() };
                entry
                    .tabs
                    .insert(client.clone(), Tab { info, ip, open: 0, until, leaving: false, mailbox: Arc::default() });
                entry.changed = true;
                entry.tell = true;
            }
        }
        let slot = entry.tabs.get_mut(client).expect("claimed above");
        if !slot.info.same_as(tab) {
            // Another pattern or transport, or a new name: the same tab, shown anew.
            slot.info = TabInfo { joined: slot.info.joined, claim: slot.info.claim.clone(), ..tab.clone() };
            entry.changed = true;
            entry.tell = true;
        }
        slot.open += 1;
        slot.until = slot.until.max(until);
        slot.leaving = false;
        Ok(slot.mailbox.clone())
    }

    /// One tab fewer on `ip`.
    fn uncount(&self, ip: IpAddr) {
        let mut per_ip = self.per_ip.lock().expect("presence lock");
        if let Some(n) = per_ip.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                per_ip.remove(&ip);
            }
        }
    }

    /// A tab says it is going: it leaves the list at the next tick, whatever it still
    /// has open. `403` when the request is not the tab's (another connection's id);
    /// leaving a board it is not on is leaving.
    pub fn leave(&self, board: &str, client: &str, proof: Proof) -> Result<(), AppError> {
        let mut boards = self.boards.lock().expect("presence lock");
        let Some(entry) = boards.get_mut(board) else { return Ok(()) };
        let Some(tab) = entry.tabs.get_mut(client) else { return Ok(()) };
        if !proves(tab, client, proof) {
            return Err(AppError::Forbidden(format!("client {client} is another connection's tab")));
        }
        tab.leaving = true;
        tab.until = Instant::now();
        entry.changed = true;
        entry.tell = true;
        Ok(())
    }

    /// The board's list as last built (empty for a board nobody is on).
    pub fn roster(&self, board: &str) -> Arc<Roster> {
        let boards = self.boards.lock().expect("presence lock");
        boards.get(board).map_or_else(|| Arc::new(Roster::empty()), |b| b.roster.borrow().clone())
    }

    /// Delivers a signal (`data` for one client) or a relayed cursor (for everyone) from
    /// a tab on the board: to its mailbox here, and through the broker to the replica
    /// that serves it. `404` when the sender or the addressee is not on the board; `403`
    /// when the request is not the sender's (`proof`).
    pub async fn signal(&self, board: &str, signal: &Signal, proof: Proof<'_>) -> Result<(), AppError> {
        check_id("from", &signal.from).map_err(AppError::BadRequest)?;
        let (message, deliver_here) = {
            let boards = self.boards.lock().expect("presence lock");
            let entry = boards.get(board);
            let on_board =
                |client: &str| entry.is_some_and(|b| b.tabs.contains_key(client) || b.roster.borrow().has(client));
            if !on_board(&signal.from) {
                return Err(AppError::NotFound(format!("client {} is not on this board", signal.from)));
            }
            let sender = entry.and_then(|b| b.tabs.get(&signal.from));
            let remote_claim = entry.and_then(|b| {
                b.remote.values().flat_map(|s| &s.tabs).find(|t| t.identity.client == signal.from).map(|t| &t.claim)
            });
            let theirs = match (sender, proof) {
                (Some(tab), proof) => proves(tab, &signal.from, proof),
                (None, Proof::Socket(id)) => id == Some(signal.from.as_str()),
                // Its tab is on another replica: its claim travelled with it.
                (None, Proof::Request { secret, .. }) => {
                    remote_claim.is_some_and(|claim| claim.is_some() && *claim == secret.map(claim_of))
                }
            };
            if !theirs {
                return Err(AppError::Forbidden(format!("client {} is another connection's tab", signal.from)));
            }
            match (&signal.data, &signal.cursor) {
                (Some(data), None) if signal.to != EVERYONE => {
                    check_id("to", &signal.to).map_err(AppError::BadRequest)?;
                    if !on_board(&signal.to) {
                        return Err(AppError::NotFound(format!("client {} is not on this board", signal.to)));
                    }
                    let bytes = serde_json::to_vec(data).map(|d| d.len()).unwrap_or(usize::MAX);
                    if bytes > MAX_SIGNAL_BYTES {
                        return Err(AppError::TooLarge { limit: MAX_SIGNAL_BYTES });
                    }
                    let frame = Frame::Signal { from: signal.from.clone(), data: data.clone() }.to_json();
                    let here = entry.and_then(|b| b.tabs.get(&signal.to)).map(|t| t.mailbox.clone());
                    metrics::counter!("board_signals_total", "kind" => "signal").increment(1);
                    (Message::Signal { to: signal.to.clone(), frame }, here.map(|m| vec![m]))
                }
                (None, Some(cursor)) if signal.to == EVERYONE => {
                    if !cursor.valid() {
                        return Err(AppError::Unprocessable("a cursor's x and y are fractions from 0 to 1".into()));
                    }
                    let frame = Frame::Cursor { from: signal.from.clone(), x: cursor.x, y: cursor.y }.to_json();
                    let others = entry
                        .map(|b| b.tabs.values().filter(|t| t.info.identity.client != signal.from))
                        .into_iter()
                        .flatten()
                        .map(|t| t.mailbox.clone())
                        .collect();
                    metrics::counter!("board_signals_total", "kind" => "cursor").increment(1);
                    (Message::Cursor { from: signal.from.clone(), frame }, Some(others))
                }
                _ => {
                    return Err(AppError::BadRequest(
                        "a signal has either \"data\" for one client or \"cursor\" with \"to\":\"*\"".into(),
                    ))
                }
            }
        };
        match (&message, deliver_here) {
            // The addressee is here: no other replica needs it.
            (Message::Signal { frame, .. }, Some(mailboxes)) => {
                for mailbox in mailboxes {
                    mailbox.signal(Bytes::from(frame.clone()));
                }
                return Ok(());
            }
            (Message::Cursor { from, frame }, Some(mailboxes)) => {
                for mailbox in mailboxes {
                    mailbox.cursor(from, Bytes::from(frame.clone()));
                }
            }
            _ => {}
        }
        self.publish(board, &message).await;
        Ok(())
    }

    /// Rebuilds every list that changed, drops what expired, and tells the other
    /// replicas what they should know, every [`TICK`] until the server closes; then tells
    /// them this replica's tabs are gone.
    pub async fn keep_ticking(self: Arc<Self>, mut closing: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = closing.wait_for(|closing| *closing) => break,
            }
            for (board, message) in self.tick(Instant::now()) {
                self.publish(&board, &message).await;
            }
        }
        let boards: Vec<String> = {
            let mut boards = self.boards.lock().expect("presence lock");
            boards
                .iter_mut()
                .filter(|(_, b)| !b.tabs.is_empty())
                .map(|(id, b)| {
                    for (_, tab) in b.tabs.drain() {
                        self.uncount(tab.ip);
                    }
                    id.clone()
                })
                .collect()
        };
        for board in boards {
            self.publish(&board, &Message::Share { tabs: Vec::new(), ask: false }).await;
        }
    }

    /// One tick at `now`: what to publish.
    fn tick(&self, now: Instant) -> Vec<(String, Message)> {
        let mut out = Vec::new();
        let mut boards = self.boards.lock().expect("presence lock");
        boards.retain(|id, board| {
            let tabs = board.tabs.len();
            board.tabs.retain(|_, tab| {
                let stays = tab.present(now);
                if !stays {
                    self.uncount(tab.ip);
                }
                stays
            });
            if board.tabs.len() != tabs {
                board.changed = true;
                board.tell = true;
            }
            let shares = board.remote.len();
            board.remote.retain(|_, share| now.duration_since(share.heard) < SHARE_TTL);
            if board.remote.len() != shares {
                board.changed = true;
            }
            if board.changed && now >= board.next_list {
                board.changed = false;
                let here = board.tabs.values().map(|t| &t.info);
                let roster = Roster::of(here.chain(board.remote.values().flat_map(|s| s.tabs.iter())));
                if roster.rev != board.roster.borrow().rev {
                    board.next_list = now + pace(roster.frame.len());
                    board.roster.send_replace(Arc::new(roster));
                }
            }
            let due = !board.tabs.is_empty() && board.told.is_none_or(|told| now.duration_since(told) >= SHARE_EVERY);
            if board.tell || board.ask || due {
                let tabs = board.tabs.values().map(|t| t.info.clone()).collect();
                out.push((id.clone(), Message::Share { tabs, ask: board.ask }));
                board.told = Some(now);
                board.tell = false;
                board.ask = false;
            }
            if board.tabs.is_empty() {
                board.follow = None;
            }
            !board.tabs.is_empty() || !board.remote.is_empty() || board.roster.receiver_count() > 0
        });
        let present: usize = boards.values().map(|b| b.tabs.len()).sum();
        metrics::gauge!("board_present_tabs_here").set(present as f64);
        out
    }

    /// What another replica said about a board.
    pub fn heard(&self, board: &str, replica: &str, message: serde_json::Value) {
        let message: Message = match serde_json::from_value(message) {
            Ok(message) => message,
            Err(err) => return tracing::warn!(%board, error = %err, "ignoring a presence message that does not parse"),
        };
        let mut boards = self.boards.lock().expect("presence lock");
        let Some(entry) = boards.get_mut(board) else { return };
        match message {
            Message::Share { tabs, ask } => {
                let same = entry.remote.get(replica).is_some_and(|share| share.tabs == tabs);
                if !same {
                    entry.changed = true;
                }
                if tabs.is_empty() {
                    entry.remote.remove(replica);
                } else {
                    entry.remote.insert(replica.to_owned(), Share { tabs, heard: Instant::now() });
                }
                if ask && !entry.tabs.is_empty() {
                    entry.tell = true;
                }
            }
            Message::Signal { to, frame } => {
                if let Some(tab) = entry.tabs.get(&to) {
                    tab.mailbox.signal(Bytes::from(frame));
                }
            }
            Message::Cursor { from, frame } => {
                let frame = Bytes::from(frame);
                for tab in entry.tabs.values().filter(|t| t.info.identity.client != from) {
                    tab.mailbox.cursor(&from, frame.clone());
                }
            }
        }
    }

    /// The connection to the other replicas is back: whatever they said meanwhile is
    /// lost, so tell them ours and ask for theirs.
    pub fn reconnected(&self) {
        for board in self.boards.lock().expect("presence lock").values_mut() {
            board.tell = true;
            board.ask = true;
        }
    }

    async fn publish(&self, board: &str, message: &Message) {
        if let Some(broker) = self.broker.get() {
            let message = serde_json::to_value(message).expect("presence messages serialise");
            broker.publish_ephemeral(board, message).await;
        }
    }

    /// A stream or request of `client` ended.
    fn closed(&self, board: &str, client: &str, stay: Stay) {
        let mut boards = self.boards.lock().expect("presence lock");
        let Some(entry) = boards.get_mut(board) else { return };
        let Some(tab) = entry.tabs.get_mut(client) else { return };
        tab.open = tab.open.saturating_sub(1);
        if tab.leaving {
            return;
        }
        let after = match stay {
            Stay::Stream => LINGER,
            // A held long-poll that ends still leaves the tab its lease to ask again.
            Stay::Request { lease } => lease,
        };
        tab.until = tab.until.max(Instant::now() + after);
    }
}

/// Is the request (`proof`) the tab `client`?
fn proves(tab: &Tab, client: &str, proof: Proof) -> bool {
    match proof {
        Proof::Socket(id) => id == Some(client),
        Proof::Request { ip, secret } => tab.claimed_by(ip, secret),
    }
}

/// Now, in Unix milliseconds: when a tab came.
fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// How long after sending a list of `bytes` the next may go.
fn pace(bytes: usize) -> Duration {
    TICK.max(Duration::from_secs_f64(bytes as f64 / LIST_BYTES_PER_SECOND as f64))
}

impl Board {
    fn new() -> Board {
        Board {
            tabs: HashMap::new(),
            remote: HashMap::new(),
            roster: watch::Sender::new(Arc::new(Roster::empty())),
            changed: false,
            next_list: Instant::now(),
            tell: false,
            ask: true,
            told: None,
            follow: None,
        }
    }
}

/// A stream's or request's place on a board: it keeps its tab on the list while it lives,
/// and carries the board's presence frames and the tab's letters to it.
pub struct Here {
    presence: Arc<Presence>,
    board: String,
    client: Option<String>,
    stay: Stay,
    roster: watch::Receiver<Arc<Roster>>,
    mailbox: Option<Arc<Mailbox>>,
}

impl Here {
    /// Is there anything for a client that wants this?
    pub fn has_news(&self, wants: Wants) -> bool {
        let list = match wants {
            Wants::Lists { holds } => holds != Some(self.roster.borrow().rev),
            Wants::Letters => false,
        };
        list || self.mailbox.as_ref().is_some_and(|m| !m.is_empty())
    }

    /// The ephemeral frames, as JSON: the list now unless the client holds it, then every
    /// new list and every letter, as they come. Never ends on its own.
    pub fn frames(mut self, wants: Wants) -> impl Stream<Item = Bytes> + Send + 'static {
        async_stream::stream! {
            let first = self.roster.borrow_and_update().clone();
            if let Wants::Lists { holds } = wants {
                if holds != Some(first.rev) {
                    sent(&first.frame);
                    yield first.frame.clone();
                }
            }
            loop {
                if let Some(mailbox) = &self.mailbox {
                    for letter in mailbox.take() {
                        yield letter;
                    }
                }
                let mailbox = self.mailbox.clone();
                let arrived = async move {
                    match mailbox {
                        Some(mailbox) => mailbox.arrived().await,
                        None => std::future::pending().await,
                    }
                };
                let lists = wants != Wants::Letters;
                tokio::select! {
                    changed = self.roster.changed(), if lists => {
                        if changed.is_err() {
                            return;
                        }
                        let roster = self.roster.borrow_and_update().clone();
                        sent(&roster.frame);
                        yield roster.frame.clone();
                    }
                    _ = arrived => {}
                }
            }
        }
    }
}

/// Counts a presence frame sent to one client (the fan-out benchmark reads these).
fn sent(frame: &Bytes) {
    metrics::counter!("board_presence_frames_sent_total").increment(1);
    metrics::counter!("board_presence_bytes_sent_total").increment(frame.len() as u64);
}

impl Drop for Here {
    fn drop(&mut self) {
        if let Some(client) = &self.client {
            self.presence.closed(&self.board, client, self.stay);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lists_go_out_less_often() {
        assert_eq!(pace(300), TICK, "a short list: ten a second");
        assert_eq!(pace(LIST_BYTES_PER_SECOND), Duration::from_secs(1));
        assert!(pace(110 * 1024) > Duration::from_millis(1700));
    }
}
