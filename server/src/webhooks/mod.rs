//! Webhooks: other servers as subscribers of a board's change log. The log already is a
//! transactional outbox (a change and its log entry commit together), so a webhook is one
//! more subscriber with a saved position, like a browser's `since`, kept in the database.
//!
//! * [`sign`]: Standard Webhooks signatures, secrets, stable message ids.
//! * [`guard`]: no SSRF: schemes, addresses checked at every delivery, `WEBHOOK_ALLOW`.
//! * `store::webhooks`: the rows, the lease, the position moved with the delivery record.
//!
//! Delivery ([`Webhooks::keep_delivering`], one loop per replica): every [`POLL_EVERY`], or
//! at once when a change commits here, the replica leases the webhooks that have something
//! due (a lease in the database: one replica delivers a webhook at a time, and another
//! takes over when the lease lapses, within [`LEASE`]), and runs one task per leased
//! webhook.
//!
//! Fair by construction: a webhook has one attempt at a time, a board at most
//! [`PER_BOARD_AT_ONCE`] (whatever the replica), a replica at most [`LEASED_AT_ONCE`]; a
//! webhook whose attempt failed gives its slot up until its retry is due, and a webhook
//! whose task still runs is never leased again by its own replica. So receivers that hang
//! hold their own board's few slots for at most `WEBHOOK_TIMEOUT`, and every other board's
//! deliveries keep flowing (measured: `cargo bench -p server --bench abuse -- webhooks`). A task posts the next change after the saved position, one at a time, and
//! records each attempt with its outcome in one transaction:
//!
//! * `2xx`: the position moves to that seq; the next change follows at once.
//! * `410`: the webhook is disabled until replayed.
//! * anything else, or no answer within `WEBHOOK_TIMEOUT`: retried after
//!   `WEBHOOK_BACKOFF_MS × 2^failures`, jittered ±50 %, capped at [`BACKOFF_CAP`], or after
//!   `Retry-After` if the receiver says (also capped).
//!
//! Each webhook is its own task with its own timeout, so a receiver that hangs delays only
//! its own webhook; streams and commands never wait on a delivery.

pub mod guard;
pub mod sign;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{watch, Notify};

use board_core::patterns::Frame;

use crate::store::webhooks::{Attempt, Outcome, WebhookRow};
use crate::store::{now_ms, ChangesSince, Loaded, Store};
use guard::{Guard, Lookup, Route};

/// How long a replica's lease on a webhook lasts; renewed while it delivers. A replica
/// that dies holds its webhooks this long at most.
pub const LEASE: Duration = Duration::from_secs(5);
/// How often the lease is renewed during one long attempt.
const RENEW_EVERY: Duration = Duration::from_secs(2);
/// How often each replica looks for webhooks with something due.
pub const POLL_EVERY: Duration = Duration::from_millis(500);
/// How long the previous secret keeps signing after a rotation.
pub const ROTATION_GRACE: Duration = Duration::from_secs(24 * 60 * 60);
/// The longest wait between attempts, whatever the backoff or `Retry-After` say.
pub const BACKOFF_CAP: Duration = Duration::from_secs(300);
/// How many webhooks one replica delivers at once (each its own task, and a socket while it
/// waits for an answer): well above what receivers that hang can hold (a board holds at
/// most [`PER_BOARD_AT_ONCE`]).
pub const LEASED_AT_ONCE: i64 = 512;
/// How many of one board's webhooks are delivered at once, on all replicas together.
pub const PER_BOARD_AT_ONCE: i64 = 4;

/// The delivery settings (`WEBHOOK_TIMEOUT`, `WEBHOOK_BACKOFF_MS`, `WEBHOOK_ALLOW`).
#[derive(Clone, Debug)]
pub struct Settings {
    pub timeout: Duration,
    pub backoff: Duration,
    pub allow: Vec<String>,
}

/// This replica's webhook deliverer.
pub struct Webhooks {
    store: Store,
    /// This replica's name: the lease owner.
    replica: Arc<str>,
    settings: Settings,
    guard: Guard,
    /// For receivers in `WEBHOOK_ALLOW` (resolved by the system, no check).
    plain: reqwest::Client,
    /// Webhooks with a task running here.
    running: Mutex<HashSet<String>>,
    /// A change committed here: look now, not at the next poll.
    wake: Notify,
}

impl Webhooks {
    pub fn new(store: Store, replica: Arc<str>, settings: Settings, lookup: Arc<dyn Lookup>) -> Webhooks {
        let guard = Guard::new(lookup, &settings.allow);
        Webhooks {
            store,
            replica,
            plain: client(settings.timeout, None),
            settings,
            guard,
            running: Mutex::default(),
            wake: Notify::new(),
        }
    }

    /// May a webhook be registered with this URL? The words of the `422` if not.
    pub async fn check_url(&self, url: &str) -> Result<(), String> {
        self.guard.check(url).await.map(|_| ())
    }

    /// A change committed on this replica: deliver without waiting for the next poll.
    pub fn committed(&self) {
        self.wake.notify_one();
    }

    /// Leases and delivers until the server closes; then gives its leases up, so another
    /// replica takes over at once rather than when they lapse.
    pub async fn keep_delivering(self: Arc<Self>, mut closing: watch::Receiver<bool>) {
        let mut poll = tokio::time::interval(POLL_EVERY);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = poll.tick() => {}
                _ = self.wake.notified() => {}
                _ = closing.wait_for(|closing| *closing) => break,
            }
            let free = LEASED_AT_ONCE - self.running.lock().expect("webhooks lock").len() as i64;
            if free <= 0 {
                continue;
            }
            let claimed = match self.store.claim_webhooks(&self.replica, LEASE, free, PER_BOARD_AT_ONCE).await {
                Ok(claimed) => claimed,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot lease webhooks");
                    continue;
                }
            };
            for webhook in claimed {
                if self.running.lock().expect("webhooks lock").insert(webhook.id.clone()) {
                    let (me, closing) = (self.clone(), closing.clone());
                    tokio::spawn(async move {
                        let id = webhook.id.clone();
                        me.deliver(webhook, closing).await;
                        me.running.lock().expect("webhooks lock").remove(&id);
                    });
                }
            }
        }
        let held: Vec<String> = self.running.lock().expect("webhooks lock").iter().cloned().collect();
        for id in held {
            let _ = self.store.release_lease(&id, &self.replica).await;
        }
    }

    /// Delivers one webhook's changes, one at a time, while it holds the lease and has
    /// something due.
    async fn deliver(&self, mut webhook: WebhookRow, closing: watch::Receiver<bool>) {
        loop {
            if *closing.borrow() {
                return;
            }
            let next = match self.next_frame(&webhook).await {
                Ok(Some(next)) => next,
                // Caught up: let the lease go, the next commit leases it again.
                Ok(None) => {
                    let _ = self.store.release_lease(&webhook.id, &self.replica).await;
                    return;
                }
                Err(err) => {
                    tracing::warn!(webhook = %webhook.id, error = %err, "cannot read the log for a webhook");
                    return;
                }
            };
            let attempt = match next {
                Next::Frame { seq, json } => self.attempt(&webhook, seq, json).await,
                Next::Pruned { head } => Attempt {
                    from: webhook.delivered_seq,
                    seq: webhook.delivered_seq + 1,
                    status: None,
                    error: Some(format!(
                        "the log no longer reaches seq {}: replay from a retained seq (the head is {head})",
                        webhook.delivered_seq + 1
                    )),
                    duration_ms: 0,
                    outcome: Outcome::Disable,
                },
            };
            match self.store.record_attempt(&webhook.id, &self.replica, &attempt, LEASE).await {
                Ok(true) => {}
                // Another replica holds it now.
                Ok(false) => return,
                Err(err) => {
                    tracing::warn!(webhook = %webhook.id, error = %err, "cannot record a webhook delivery");
                    return;
                }
            }
            metrics::counter!("board_webhook_attempts_total", "outcome" => outcome_label(attempt.outcome)).increment(1);
            match attempt.outcome {
                Outcome::Delivered => webhook.delivered_seq = attempt.seq,
                // Retried when due (this replica's next poll leases it again), or never.
                Outcome::RetryAt(_) | Outcome::Disable => return,
            }
        }
    }

    /// The next frame to deliver after the webhook's position, `None` when caught up.
    async fn next_frame(&self, webhook: &WebhookRow) -> Result<Option<Next>, sqlx::Error> {
        let from = webhook.delivered_seq;
        if webhook.pattern.self_contained() {
            // One frame at the head stands for every change up to it (as on a stream).
            let Some(Loaded { state, at, .. }) = self.store.load(&webhook.board).await? else { return Ok(None) };
            if state.seq <= from {
                return Ok(None);
            }
            let seq = state.seq;
            let frame = match webhook.pattern.snapshot_frame(&state, at) {
                Some(frame) => frame,
                None => Frame::Poke { seq, at, key: None, trace: None },
            };
            return Ok(Some(Next::Frame { seq, json: frame.to_json() }));
        }
        match self.store.changes_since(&webhook.board, from, 1).await? {
            None => Ok(None),
            Some(ChangesSince::Pruned { head }) => Ok(Some(Next::Pruned { head })),
            Some(ChangesSince::Changes { changes, .. }) => Ok(changes.first().map(|change| {
                let frame = webhook.pattern.encode(change).expect("a delta pattern encodes from the change");
                // A command's key is for the tab that sent it (to recognise its own change),
                // not for a receiver elsewhere.
                let frame = frame.keyed(None);
                Next::Frame { seq: change.seq, json: frame.to_json() }
            })),
        }
    }

    /// One `POST` of change `seq`, signed; what it came to.
    async fn attempt(&self, webhook: &WebhookRow, seq: u64, frame: String) -> Attempt {
        let body = Bytes::from(format!("{{\"board\":{},\"frame\":{frame}}}", serde_json::json!(webhook.board)));
        let id = sign::message_id(&webhook.board, &webhook.id, seq);
        let timestamp = now_ms() / 1000;
        let mut secrets = vec![webhook.secret.as_str()];
        secrets.extend(webhook.previous_secret.as_deref());
        let signature = sign::signature(&secrets, &id, timestamp, &body);
        let started = Instant::now();
        let mut attempt = Attempt {
            from: webhook.delivered_seq,
            seq,
            status: None,
            error: None,
            duration_ms: 0,
            outcome: Outcome::Delivered,
        };
        // Checked now, not only at registration: the name may point elsewhere today.
        let client = match self.guard.check(&webhook.url).await {
            Ok(Route::Allowed) => self.plain.clone(),
            Ok(Route::Checked(addresses)) => {
                let port = reqwest::Url::parse(&webhook.url).ok().and_then(|u| u.port_or_known_default()).unwrap_or(80);
                client(self.settings.timeout, Some(guard::Guarded::new(addresses, port)))
            }
            Err(refused) => {
                attempt.error = Some(refused);
                attempt.outcome = Outcome::RetryAt(now_ms() + self.backoff(webhook.failures, None).as_millis() as i64);
                return attempt;
            }
        };
        let request = client
            .post(&webhook.url)
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            // Which replica delivered it, as every answer of this server says.
            .header("x-replica", &*self.replica)
            .body(body);
        // The lease is renewed while a slow receiver takes its time.
        let sent = request.send();
        tokio::pin!(sent);
        let mut renew = tokio::time::interval(RENEW_EVERY);
        renew.reset();
        let answer = loop {
            tokio::select! {
                answer = &mut sent => break answer,
                _ = renew.tick() => {
                    let _ = self.store.renew_lease(&webhook.id, &self.replica, LEASE).await;
                }
            }
        };
        attempt.duration_ms = started.elapsed().as_millis() as u64;
        match answer {
            Ok(response) if response.status().is_success() => {
                attempt.status = Some(response.status().as_u16());
            }
            Ok(response) if response.status() == reqwest::StatusCode::GONE => {
                attempt.status = Some(410);
                attempt.error = Some("the receiver answered 410 Gone: disabled".into());
                attempt.outcome = Outcome::Disable;
            }
            Ok(response) => {
                let status = response.status();
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                attempt.status = Some(status.as_u16());
                attempt.error = Some(format!("the receiver answered {status}"));
                let wait = self.backoff(webhook.failures, retry_after);
                attempt.outcome = Outcome::RetryAt(now_ms() + wait.as_millis() as i64);
            }
            Err(err) => {
                // The owner reads this in the delivery log: what happened, in words, not
                // the network's own detail (which is logged here for the operator).
                tracing::debug!(webhook = %webhook.id, error = %error_chain(&err), "a webhook delivery failed");
                attempt.error = Some(if err.is_timeout() {
                    format!("no answer within {} s", self.settings.timeout.as_secs())
                } else if err.is_connect() {
                    "could not connect to the receiver".into()
                } else {
                    "the request to the receiver failed".into()
                });
                attempt.outcome = Outcome::RetryAt(now_ms() + self.backoff(webhook.failures, None).as_millis() as i64);
            }
        }
        attempt
    }

    /// The wait before the next attempt after `failures` failures in a row (this one not
    /// counted): the base doubled each time, jittered ±50 %, capped; at least `Retry-After`.
    fn backoff(&self, failures: u32, retry_after: Option<Duration>) -> Duration {
        let doubled = self.settings.backoff.saturating_mul(1 << failures.min(20));
        let jitter = 0.5 + rand::random::<f64>();
        let wait = doubled.mul_f64(jitter).min(BACKOFF_CAP);
        retry_after.map_or(wait, |asked| wait.max(asked.min(BACKOFF_CAP)))
    }
}

/// What a webhook has to deliver next.
enum Next {
    Frame {
        seq: u64,
        json: String,
    },
    /// Its position is older than the retained log.
    Pruned {
        head: u64,
    },
}

/// The delivery client: redirects never followed, one timeout per attempt; with a
/// resolver that answers only the checked addresses, for checked routes.
fn client(timeout: Duration, resolver: Option<guard::Guarded>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("realtime-board-webhooks/", env!("CARGO_PKG_VERSION")));
    if let Some(resolver) = resolver {
        builder = builder.dns_resolver(Arc::new(resolver));
    }
    builder.build().expect("the webhook client builds")
}

/// An error and its causes, in one line (reqwest's own message hides the cause).
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut words = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        words.push_str(": ");
        words.push_str(&cause.to_string());
        source = cause.source();
    }
    words
}

fn outcome_label(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Delivered => "delivered",
        Outcome::RetryAt(_) => "retry",
        Outcome::Disable => "disabled",
    }
}
