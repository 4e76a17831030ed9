//! The JSON shapes of the REST API that both sides use: the server answers with them and
//! the browser's client decodes them. (The board itself is `domain::BoardState`; stream
//! frames are `patterns::Frame`.)

use serde::{Deserialize, Serialize};

use crate::domain::{BoardState, Event, Id};
use crate::patterns::Frame;

/// One entry of `GET /api/boards`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BoardSummary {
    pub id: String,
    pub name: String,
    pub seq: u64,
}

/// Body of `POST /api/boards`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CreateBoard {
    pub name: String,
    /// `"private"` (the default: only key holders see it) or `"public"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<String>,
}

/// The `201` answer to `POST /api/boards`: the keys are shown this once.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BoardCreated {
    pub id: String,
    pub name: String,
    pub visibility: String,
    pub keys: BoardKeys,
}

/// A board's two keys: `read` lets its holder see the board, `write` also change it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BoardKeys {
    pub read: String,
    pub write: String,
}

/// The answer to `POST /api/boards/{board}/keys`: the new keys (the old ones are dead).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KeysRotated {
    pub keys: BoardKeys,
}

/// `GET /api/boards/{board}/access`: what this client may do with the board.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Viewer {
    pub can_write: bool,
    /// Holds the board's write key: may administer it (webhooks, keys, the fault lab's
    /// faults on it), public boards included.
    #[serde(default)]
    pub admin: bool,
    pub private: bool,
    /// Both share links, for a holder of the write key of a private board.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share: Option<ShareLinks>,
}

/// Page paths that carry a key: opening one stores the key in the browser.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShareLinks {
    pub read: String,
    pub write: String,
}

/// The `200` answer to a command, also what a repeated Idempotency-Key gets back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CommandAnswer {
    pub seq: u64,
    /// The id of the todo or sprint the command created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Id>,
    pub event: Event,
    /// What the change did to the one todo it was about, for the sender's undo
    /// (`domain::undo`); absent for changes nobody can undo (sprints).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<Box<crate::domain::undo::Step>>,
}

/// One change as history shows it: when, by whom (the presence name its command was sent
/// with, when it said), what happened, and the field-level changes it caused.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub seq: u64,
    /// Commit time, Unix milliseconds.
    pub at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    pub event: Event,
    pub diff: crate::domain::Diff,
}

/// `GET /api/boards/{board}/history?at=N&then=M`: the board as it was at seq `at`, the
/// change that made it, and up to `M` changes after it (so a page can step forward
/// through them with the shared reducer, without asking again).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryPage {
    pub at: u64,
    /// The oldest seq history reaches (see docs/history.md): older changes were pruned.
    pub floor: u64,
    pub head: u64,
    pub epoch: String,
    pub state: BoardState,
    /// The change at `at` (absent at seq 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<HistoryEntry>,
    /// The changes after `at`, in order: `at + 1`, `at + 2`, ...
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub then: Vec<HistoryEntry>,
}

/// The `410` of `/history`: the seq asked for is older than history reaches, which starts
/// at `floor` (`error` says why: the log's retention).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BeforeHistory {
    pub error: String,
    pub floor: u64,
}

/// `GET /api/boards/{board}/todos/{id}/history`: every retained change that touched one
/// todo, oldest first (the newest [`TodoHistoryPage::LIMIT`] of them).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TodoHistoryPage {
    pub todo: Id,
    /// The oldest seq the log reaches: the todo may have older changes that were pruned.
    pub floor: u64,
    pub head: u64,
    pub changes: Vec<HistoryEntry>,
    /// Older retained changes exist beyond the page.
    #[serde(default)]
    pub more: bool,
}

impl TodoHistoryPage {
    /// The most changes one answer lists.
    pub const LIMIT: usize = 200;
}

/// The answer of `/changes`, `/poll` and `/long-poll`: the frames after `since`, in order,
/// the head seq and the board's epoch. Fewer frames than `head - since` means "ask again
/// from the last one".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FramesPage {
    pub head: u64,
    /// Which incarnation of the board's history the seqs belong to (see [`Position`]).
    #[serde(default)]
    pub epoch: String,
    pub frames: Vec<Frame>,
}

/// A client's place in a board's history: the seq it holds, in the epoch it got it from.
///
/// A seq alone is ambiguous: a board whose database was wiped or restored, or that was
/// deleted and created again, counts from 0 again, and its head may grow past the seq a
/// client holds from before. The epoch names the incarnation (as centrifuge's stream
/// epoch does), so the server tells such a client to `reset`. It travels beside the seq,
/// never inside it, so the seq-only forms stay as they are: `?epoch=E` next to `since=N`
/// (an `EventSource` repeats it with `Last-Event-ID` when it reconnects), and the
/// [`EPOCH_HEADER`] next to `If-None-Match`. A client that sends no epoch (an older one) is
/// taken at its word.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Position {
    pub seq: u64,
    pub epoch: Option<String>,
}

/// The request header that names the epoch of the seq in `If-None-Match`, and the response
/// header that tells a board's epoch.
pub const EPOCH_HEADER: &str = "x-board-epoch";

impl Position {
    /// The query string that carries it: `since=N`, and `&epoch=E` when known.
    pub fn query(&self) -> String {
        match &self.epoch {
            Some(epoch) => format!("since={}&epoch={epoch}", self.seq),
            None => format!("since={}", self.seq),
        }
    }

    /// Does this position belong to another incarnation than `epoch`?
    pub fn is_foreign(&self, epoch: &str) -> bool {
        self.epoch.as_deref().is_some_and(|mine| mine != epoch)
    }
}

/// A command sent up a WebSocket. The answer is an `ack` or `error` frame carrying the
/// same `request_id`; `idempotency_key` works as the HTTP header does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SocketCommand {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// The sender's presence name, recorded with the change (as `Board-Actor` over HTTP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// A W3C `traceparent` the command's spans continue (as the HTTP header of that name):
    /// the change's data frames then carry its trace id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    pub command: crate::domain::Command,
}

/// A signal or relayed cursor sent up a WebSocket (`{"signal":{...}}`), as `POST /signal`
/// takes it. Nothing answers it unless it is refused (an `error` frame).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SocketSignal {
    pub signal: crate::presence::Signal,
}

/// Every refusal's body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiError {
    pub error: String,
}

/// Body of `POST /api/boards/{board}/webhooks`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    pub url: String,
    /// One of the five patterns; `event-diff` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
}

/// A webhook as `GET /api/boards/{board}/webhooks` lists it (never its secret).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookInfo {
    pub id: String,
    pub url: String,
    pub pattern: String,
    /// `active`, `failing` or `disabled`.
    pub status: String,
    /// The last seq the receiver answered `2xx` for.
    pub delivered_seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// The `201` answer to `POST /api/boards/{board}/webhooks` (and to a rotation): the webhook
/// and its secret, shown this once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookCreated {
    /// `whsec_` and the base64 of the signing key.
    pub secret: String,
    #[serde(flatten)]
    pub webhook: WebhookInfo,
}

/// Body of `POST /api/boards/{board}/webhooks/{id}/replay`: deliver again from seq `since + 1`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayWebhook {
    pub since: u64,
}

/// One attempt of `GET /api/boards/{board}/webhooks/{id}/deliveries`, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub seq: u64,
    /// 1 for the first attempt at this seq, 2 for the first retry, ...
    pub attempt: u32,
    /// The receiver's status, if it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: u64,
    /// Unix milliseconds.
    pub at: i64,
}

/// Body of `POST /api/lab?board=B`: server-side faults for the cluster demo, applied to the
/// replica that receives it (only when it runs with `FAULTS=1`). Each field present sets its
/// fault; absent fields leave theirs as they are. The faults on change notices are the
/// board's (they need its write key); pausing the database is the replica's (it needs the
/// `X-Lab-Token` header to carry `LAB_TOKEN`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerFaults {
    /// Drop the board's next N change notices on their way to this replica's streams (they
    /// repair from the log: on the next change, or at the next heartbeat). 0 stops dropping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop_notices: Option<u32>,
    /// Hold every change notice of the board this long (in order) before this replica's
    /// streams see it. 0 turns the delay off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_notices_ms: Option<u32>,
    /// Hand out no database connection for this many seconds (requests that need one wait,
    /// then answer `503`; commands are retried with their Idempotency-Keys). 0 resumes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause_database_s: Option<u32>,
}

/// `GET /api/lab[?board=B]`, and the answer to `POST /api/lab`: this replica's server-side
/// faults (the board's, when one is named).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerLab {
    /// Does this replica take faults (`FAULTS=1`)? When `false`, `POST` is refused with `403`.
    pub enabled: bool,
    /// Can the database be paused here (`LAB_TOKEN` is set)? The token itself is needed too.
    #[serde(default)]
    pub replica_faults: bool,
    /// Which replica answered: the faults act on it alone.
    pub replica: String,
    /// The board's change notices still to be dropped.
    pub drop_notices: u32,
    /// The delay every change notice of the board waits, in milliseconds.
    pub delay_notices_ms: u32,
    /// How much longer the database stays paused, in milliseconds (0: it is not).
    pub database_paused_ms: u64,
}

/// One span of a traced change, as the inspector's waterfall draws it
/// (`GET /api/boards/{board}/traces/{trace}`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hop {
    /// `command`, `commit`, `publish board`, `receive board`, `process board` (a replica's
    /// fan-out batch) or `apply` (a tab's report).
    pub name: String,
    /// The replica that made it (for an apply: the one whose fan-out the tab received from).
    pub replica: String,
    /// Unix milliseconds, with fractions; each by its own machine's clock.
    pub start: f64,
    pub end: f64,
    /// The span's id and its parent's (16 hex digits each).
    pub span: String,
    pub parent: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// A fan-out batch: how many subscribers on its replica it was handed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribers: Option<u64>,
    /// Why the span failed (a refused command: the status it was answered with).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// An apply: the transport and pattern the tab received the change by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

/// The hops of one traced change this replica knows, earliest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceHops {
    pub trace: String,
    pub hops: Vec<Hop>,
}

/// A tab's report that it applied a traced change
/// (`POST /api/boards/{board}/traces/{trace}/apply`): the last hop of the change's trace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Applied {
    pub seq: u64,
    /// The replica whose stream brought the frame (its `hello` named it).
    pub replica: String,
    /// When the frame arrived and when the board showed it: Unix ms, the tab's clock.
    pub received: f64,
    pub applied: f64,
    pub transport: crate::protocol::Transport,
    pub pattern: crate::patterns::PatternKind,
}
