//! Brokers tell subscribers that a change committed. They only notify: delivery is at most
//! once (a lagging receiver, a restarted Redis, a disconnected replica all lose messages),
//! so nothing relies on them for completeness. Every subscriber checks `seq == last + 1`
//! and repairs gaps from the change log (see `stream`).
//!
//! * [`relay`]: the broker. On its own ([`relay::Relay::alone`], the in-process broker)
//!   it is a replica's local fan-out; among others ([`relay::Relay::start`]) it adds a
//!   [`bus::Bus`] to the other replicas, with everything that is the same whatever the bus
//!   (the envelope, echoes, reconnects, following and pruning channels).
//! * [`fanout`]: the local fan-out, `tokio::sync::broadcast`, one channel per board, and
//!   where the fault lab's filter acts.
//! * [`bus`]: what a bus is (the link between replicas only); [`redis`] (Redis pub/sub),
//!   [`nats`] (NATS core subjects) and [`postgres`] (`LISTEN`/`NOTIFY`) are three.
//!   [`connect`] picks the bus by `BROKER_URL`'s scheme.
//!
//! The relay alone and over each bus passes one table of cases (`server/tests/brokers.rs`):
//! in order, per board, to every subscriber, and a receiver that falls behind is told.
//!
//! Beside change notices a broker carries ephemeral messages between replicas (presence,
//! signals, cursors: see `presence`). It does not read them: to the broker they are
//! opaque JSON, lost as easily as a notice, and a replica on its own has nobody to tell.
//!
//! What a replica does to a notice on its way to its own subscribers is a [`NoticeFilter`]'s
//! decision, one the broker defines and asks: the fault lab (`crate::lab`) implements it to
//! drop or delay notices on purpose; otherwise every notice passes ([`PassAll`]).
//!
//! A broker only carries notices. Knowing whether a copy of a board is current (reading
//! heads, marking cached boards stale, sweeping for lost notices) is `freshness`'s job; a
//! broker between replicas reports what it hears to a [`Listener`] and needs nothing else.

pub mod bus;
pub mod fanout;
pub mod nats;
pub mod postgres;
pub mod redis;
pub mod relay;

use std::sync::Arc;
use std::time::Duration;

use board_core::patterns::ChangeRecord;

use crate::live::LiveChange;

pub use fanout::Subscription;

/// What a board's subscribers on this replica hear.
#[derive(Clone)]
pub enum Notice {
    /// A change committed (here, or on another replica).
    Change(Arc<LiveChange>),
    /// The board's head seq, read from the database: a subscriber behind it missed a
    /// notice and repairs from the log.
    Head(u64),
}

/// The channel every replica follows while it is connected to the others, whatever
/// boards it serves: the replicas' own talk (the operator's console: each replica's
/// report, the console's actions; see `admin::cluster`), sent and heard as ephemeral
/// messages. No board is called this (`~` is in no board's id).
pub const CLUSTER: &str = "~cluster";

/// What becomes of a change notice on its way to this replica's subscribers of a board.
/// Asked once per change notice of a board followed here (heads always pass: they are how
/// subscribers repair).
pub trait NoticeFilter: Send + Sync {
    /// `None`: the notice is dropped. `Some(delay)`: it is delivered after `delay` (zero:
    /// at once), and no later notice overtakes it.
    fn pass(&self, board: &str, seq: u64) -> Option<Duration>;
}

/// The filter of a replica without a fault lab: every notice passes at once.
pub struct PassAll;

impl NoticeFilter for PassAll {
    fn pass(&self, _board: &str, _seq: u64) -> Option<Duration> {
        Some(Duration::ZERO)
    }
}

#[async_trait::async_trait]
pub trait Broker: Send + Sync + 'static {
    /// Announces a committed change to the board's subscribers on every replica.
    async fn publish(&self, change: Arc<LiveChange>);
    /// Follows one board's notices on this replica: once this returns, every change
    /// published after it is delivered, unless lost (which the stream repairs). The
    /// receiver is bounded: one that falls behind gets `RecvError::Lagged` and must
    /// backfill from the log. Dropping the subscription leaves the board.
    async fn subscribe(&self, board: &str) -> Subscription;
    /// Does this replica hear every change of `board` (give or take a lost notice)? The
    /// in-process broker hears them all; a Redis replica only the boards it subscribed.
    /// A replica that does not follow a board must not trust its cached copy of it.
    fn follows(&self, board: &str) -> bool;
    /// How many boards have subscribers on this replica (each has one channel here).
    fn channels(&self) -> usize;
    /// The boards that have subscribers on this replica.
    fn boards(&self) -> Vec<String>;
    /// Hands a notice to this replica's subscribers of `board` only (a head read from the
    /// database, which every replica reads for itself).
    fn deliver_here(&self, board: &str, notice: Notice);
    /// Tells the other replicas (not this one) an ephemeral message about `board`; they
    /// hand it to their [`Listener`] if they follow the board. At most once, like notices.
    async fn publish_ephemeral(&self, board: &str, message: serde_json::Value);
    /// Readiness: can this broker deliver right now?
    async fn ready(&self) -> Result<(), String>;
    /// For each board followed here, how many replicas follow it (this one included): the
    /// cost of a board's placement, one notice per follower per change. With board
    /// affinity it is 1; without, it tends to the number of replicas.
    async fn followers(&self) -> Vec<(String, usize)>;
}

/// The `board_boards_by_followers` gauge: how many of the boards this replica follows are
/// followed by N replicas in all, for each N. (It named each board: a metric label that
/// carries a private board's unguessable id hands it to whoever reads the metrics, and a
/// label per board is a series per board, without bound. What board affinity achieves is
/// the distribution: with it, every board is followed by one replica.)
pub async fn followers_metric(broker: &dyn Broker) -> String {
    let mut text = String::from(
        "# HELP board_boards_by_followers Boards followed here, by how many replicas follow each.\n\
         # TYPE board_boards_by_followers gauge\n",
    );
    let mut by_followers = std::collections::BTreeMap::<usize, usize>::new();
    for (_board, replicas) in broker.followers().await {
        *by_followers.entry(replicas).or_default() += 1;
    }
    for (replicas, boards) in by_followers {
        text.push_str(&format!("board_boards_by_followers{{replicas=\"{replicas}\"}} {boards}\n"));
    }
    text
}

/// The bus `url` names, connected: `redis://` (or `rediss://`) is Redis pub/sub, `nats://`
/// NATS, `postgres://` (or `postgresql://`) Postgres `LISTEN`/`NOTIFY`. Any other scheme is
/// refused at startup, naming the ones this build knows.
pub async fn connect(url: &str) -> Result<Arc<dyn bus::Bus>, crate::BoxError> {
    let scheme = url.split_once("://").map_or("", |(scheme, _)| scheme);
    match scheme {
        "redis" | "rediss" => Ok(Arc::new(redis::RedisBus::connect(url).await?)),
        "nats" => Ok(Arc::new(nats::NatsBus::connect(url).await?)),
        "postgres" | "postgresql" => Ok(Arc::new(postgres::PostgresBus::connect(url).await?)),
        _ => {
            Err(format!("BROKER_URL: unknown scheme `{scheme}://`; this build knows redis://, nats:// and postgres://")
                .into())
        }
    }
}

/// How many notices a board's channel holds for its slowest receiver before that receiver
/// lags. Small on purpose: a lagging subscriber is repaired from the log, not buffered.
pub const CHANNEL_CAPACITY: usize = 64;

/// What a broker between replicas does with what it hears. Whoever starts the broker
/// supplies it (the server passes its `Freshness`), so the broker needs no store or cache.
pub trait Listener: Send + Sync + 'static {
    /// A change committed on another replica: the notice for this replica's subscribers
    /// (with the board after it, when the listener can tell). `traceparent`: the trace
    /// context its publisher sent with it, if any (opaque to the broker).
    fn heard(&self, board: String, record: ChangeRecord, traceparent: Option<&str>) -> LiveChange;
    /// Another replica published an ephemeral message about a board this one follows.
    fn ephemeral(&self, board: &str, replica: &str, message: serde_json::Value);
    /// The connection to the other replicas came (back) up: whatever was published while
    /// it was down is lost, and the listener should look for it in the log.
    fn reconnected(&self);
    /// Another replica committed `board`'s change `head`, whose record was too long for
    /// the bus: only its seq came. (This replica's subscribers are told the head too, and
    /// read the change from the log.)
    fn head(&self, board: &str, head: u64);
}
