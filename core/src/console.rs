//! The operator's console as it travels: what each replica reports about itself to the
//! others ([`ReplicaReport`], over the bus), and what the console page is shown
//! ([`ClusterView`]: every replica's latest report and the webhooks with a backlog).
//!
//! Every list here is bounded by the server before it is sent (`server::admin::report`):
//! a report has to fit in the smallest bus message (Postgres `NOTIFY`, 8000 bytes), so it
//! names the newest [`REPORTED_CONNECTIONS`] streams, the busiest [`REPORTED_BOARDS`]
//! boards and the newest [`REPORTED_ERRORS`] errors, and says how many there are in all.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::patterns::PatternKind;
use crate::protocol::Transport;

/// The most streams a replica's report names (the newest; `total` counts them all).
pub const REPORTED_CONNECTIONS: usize = 20;
/// The most boards a replica's report names: the busiest by followers and by writes.
pub const REPORTED_BOARDS: usize = 10;
/// The most recent errors a replica's report carries.
pub const REPORTED_ERRORS: usize = 5;
/// The longest error message a report carries, in bytes (longer ones are cut).
pub const ERROR_BYTES: usize = 200;
/// The most webhooks the console lists (the largest backlogs first).
pub const LISTED_WEBHOOKS: usize = 20;

/// One open stream (SSE, WebSocket, or a held long-poll) on a replica.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    /// The replica's number for it: what a disconnect names (with the replica).
    pub id: u64,
    pub board: String,
    pub transport: Transport,
    pub pattern: PatternKind,
    /// The tab's id on the presence list, when it named itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// The name it goes by there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// When it opened, Unix ms.
    pub opened: i64,
}

/// A board's load on one replica.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BoardLoad {
    pub board: String,
    /// Streams open on it here.
    pub followers: usize,
    /// Changes committed on it here in the last minute (extrapolated from the last report's
    /// interval).
    pub writes_per_minute: u64,
}

/// One counter of the replica's metrics, as the console shows it: how many in all since
/// the replica started, and how many in the last minute (from the last interval).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Vital {
    /// The metric's name (`board_limited_total`).
    pub metric: String,
    /// Its labels as Prometheus writes them (`limit="commands"`), or empty.
    pub labels: String,
    pub total: u64,
    pub per_minute: u64,
}

/// A warning or error the replica logged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecentError {
    /// Unix ms.
    pub at: i64,
    /// `ERROR` or `WARN`.
    pub level: String,
    /// Which module logged it.
    pub target: String,
    /// What it said (at most [`ERROR_BYTES`]).
    pub message: String,
}

/// What one replica says about itself, every few seconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplicaReport {
    pub replica: String,
    /// When it was made, Unix ms (the console greys a report that stops coming).
    pub at: i64,
    /// The bus between the replicas (`redis`, `nats`, `postgresql`), or `memory` alone.
    pub bus: String,
    /// Open streams here, all of them.
    pub streams: usize,
    /// Open streams by `transport/pattern`.
    pub by_way: BTreeMap<String, usize>,
    /// The busiest boards here (at most [`REPORTED_BOARDS`]).
    pub boards: Vec<BoardLoad>,
    /// The newest streams (at most [`REPORTED_CONNECTIONS`]).
    pub connections: Vec<Connection>,
    /// Slow and cut consumers, and the limits being hit (nonzero counters only).
    pub vitals: Vec<Vital>,
    /// The newest warnings and errors (at most [`REPORTED_ERRORS`]).
    pub errors: Vec<RecentError>,
}

/// A webhook that is behind, failing, paused or disabled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookBacklog {
    pub id: String,
    pub board: String,
    pub url: String,
    /// `active`, `failing`, `paused` or `disabled`.
    pub status: String,
    /// Changes committed on its board that it has not been sent.
    pub backlog: u64,
    /// Failed attempts in a row.
    pub failures: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// What the console shows: the cluster as the replica serving the console hears it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterView {
    /// Unix ms.
    pub at: i64,
    /// The replica serving this console (its own report is always there).
    pub here: String,
    /// Every replica heard from recently, by id.
    pub replicas: Vec<ReplicaReport>,
    /// The webhooks with something wrong or waiting (at most [`LISTED_WEBHOOKS`]), from
    /// the database every replica shares.
    pub webhooks: Vec<WebhookBacklog>,
}

/// What a console action answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ended {
    /// Streams ended on the replica that answered.
    pub ended: usize,
    /// Whether the other replicas were told to do the same (there is a bus).
    pub others_told: bool,
}

/// What the console page may show a browser: nothing (`ADMIN_TOKEN` unset: the page is a
/// `404`), the sign-in form, or the console.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Access {
    Off,
    SignedOut,
    SignedIn,
}
