//! Webhooks as the database keeps them: each a subscriber of one board's change log with a
//! saved position (`delivered_seq`), a lease that says which replica delivers it, and a log
//! of its delivery attempts.
//!
//! Two rules make delivery at least once and in order across crashes and replicas:
//!
//! * **The position moves with the record of the delivery**, in one transaction
//!   ([`Store::record_attempt`]): a replica that dies after the receiver answered but
//!   before the commit delivers that seq again (the receiver drops it by `webhook-id`); a
//!   change is never skipped.
//! * **Only the lease holder writes** (fencing): every update names the owner, so a replica
//!   whose lease lapsed (paused, cut off) and was taken over can no longer move the
//!   position; its late answer is recorded as nothing.

use std::time::Duration;

use sqlx::any::AnyRow;
use sqlx::Row;

use board_core::patterns::PatternKind;

use super::{now_ms, Store};

/// How many delivery attempts each webhook's log keeps (the newest).
pub const DELIVERIES_KEPT: i64 = 200;

/// A webhook's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhookStatus {
    /// Delivering, or waiting for the next change.
    Active,
    /// The last attempt failed; retrying with backoff.
    Failing,
    /// The receiver answered `410 Gone` (or the log no longer reaches its position): no
    /// more attempts until it is replayed.
    Disabled,
    /// The operator paused it from the console: no attempts until resumed (or replayed);
    /// its position is kept, so nothing is skipped.
    Paused,
}

impl WebhookStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookStatus::Active => "active",
            WebhookStatus::Failing => "failing",
            WebhookStatus::Disabled => "disabled",
            WebhookStatus::Paused => "paused",
        }
    }

    fn parse(text: &str) -> Result<Self, sqlx::Error> {
        match text {
            "active" => Ok(WebhookStatus::Active),
            "failing" => Ok(WebhookStatus::Failing),
            "disabled" => Ok(WebhookStatus::Disabled),
            "paused" => Ok(WebhookStatus::Paused),
            other => Err(super::rows::corrupt(format!("webhook status `{other}`"))),
        }
    }
}

/// One webhook as stored.
#[derive(Clone, Debug)]
pub struct WebhookRow {
    pub id: String,
    pub board: String,
    pub url: String,
    pub pattern: PatternKind,
    /// The signing key's bytes, base64 (without the `whsec_` prefix).
    pub secret: String,
    /// The key before the last rotation, while its grace period lasts: it signs too.
    pub previous_secret: Option<String>,
    pub status: WebhookStatus,
    /// The last seq the receiver answered `2xx` for.
    pub delivered_seq: u64,
    /// Failed attempts at the next seq, in a row.
    pub failures: u32,
    pub last_error: Option<String>,
    pub created_at: i64,
}

/// One attempt of the delivery log.
#[derive(Clone, Debug, PartialEq)]
pub struct DeliveryRow {
    pub seq: u64,
    /// 1 for the first attempt at this seq, 2 for the first retry, ...
    pub attempt: u32,
    /// The receiver's status, if it answered.
    pub status: Option<u16>,
    /// What went wrong, if anything (no answer, a refused address, a non-2xx status).
    pub error: Option<String>,
    pub duration_ms: u64,
    /// Unix milliseconds.
    pub at: i64,
}

/// What one attempt came to, as the delivery worker records it.
#[derive(Clone, Debug)]
pub struct Attempt {
    /// The position the attempt started from: the position only moves if it is still there
    /// (a replay meanwhile wins).
    pub from: u64,
    /// The seq it delivered (for self-contained patterns, the head it jumped to).
    pub seq: u64,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: u64,
    pub outcome: Outcome,
}

/// What the attempt means for the webhook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// `2xx`: the position moves to the attempt's seq.
    Delivered,
    /// Try again at this time (Unix ms).
    RetryAt(i64),
    /// `410`, or nothing left to deliver from: stop until replayed.
    Disable,
}

/// The columns every query returns, as a macro so that each query is one static string
/// (`concat!`): no SQL is built at run time.
macro_rules! columns {
    () => {
        "id, board_id, url, pattern, secret, previous_secret, previous_until, status, delivered_seq, failures, last_error, created_at"
    };
}

fn webhook(row: &AnyRow) -> Result<WebhookRow, sqlx::Error> {
    let pattern: String = row.try_get("pattern")?;
    Ok(WebhookRow {
        id: row.try_get("id")?,
        board: row.try_get("board_id")?,
        url: row.try_get("url")?,
        pattern: pattern.parse().map_err(|_| super::rows::corrupt(format!("webhook pattern `{pattern}`")))?,
        secret: row.try_get("secret")?,
        previous_secret: row
            .try_get::<Option<String>, _>("previous_secret")?
            .filter(|_| row.try_get::<i64, _>("previous_until").is_ok_and(|until| until > now_ms())),
        status: WebhookStatus::parse(&row.try_get::<String, _>("status")?)?,
        delivered_seq: row.try_get::<i64, _>("delivered_seq")? as u64,
        failures: row.try_get::<i64, _>("failures")? as u32,
        last_error: row.try_get("last_error")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    /// Registers a webhook on `board`, delivering the changes after the board's head now.
    /// `None` if there is no such board.
    pub async fn create_webhook(
        &self,
        board: &str,
        id: &str,
        url: &str,
        pattern: PatternKind,
        secret: &str,
    ) -> Result<Option<WebhookRow>, sqlx::Error> {
        // One statement: the position is the head at the moment of registration.
        let row = sqlx::query(concat!(
            "INSERT INTO webhooks (id, board_id, url, pattern, secret, status, delivered_seq, created_at) \
             SELECT $1, id, $2, $3, $4, 'active', seq, $5 FROM boards WHERE id = $6 RETURNING ",
            columns!()
        ))
        .bind(id)
        .bind(url)
        .bind(pattern.as_str())
        .bind(secret)
        .bind(now_ms())
        .bind(board)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(webhook).transpose()
    }

    /// The board's webhooks, oldest first.
    pub async fn webhooks(&self, board: &str) -> Result<Vec<WebhookRow>, sqlx::Error> {
        let rows =
            sqlx::query(concat!("SELECT ", columns!(), " FROM webhooks WHERE board_id = $1 ORDER BY created_at, id"))
                .bind(board)
                .fetch_all(self.pool())
                .await?;
        rows.iter().map(webhook).collect()
    }

    pub async fn webhook(&self, board: &str, id: &str) -> Result<Option<WebhookRow>, sqlx::Error> {
        let row = sqlx::query(concat!("SELECT ", columns!(), " FROM webhooks WHERE board_id = $1 AND id = $2"))
            .bind(board)
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(webhook).transpose()
    }

    /// A new signing key; the current one keeps signing beside it for `grace`. `None` if
    /// there is no such webhook.
    pub async fn rotate_webhook_secret(
        &self,
        board: &str,
        id: &str,
        secret: &str,
        grace: Duration,
    ) -> Result<Option<WebhookRow>, sqlx::Error> {
        let row = sqlx::query(concat!(
            "UPDATE webhooks SET previous_secret = secret, previous_until = $1, secret = $2 \
             WHERE board_id = $3 AND id = $4 RETURNING ",
            columns!()
        ))
        .bind(now_ms() + grace.as_millis() as i64)
        .bind(secret)
        .bind(board)
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(webhook).transpose()
    }

    /// `false` if there was no such webhook.
    pub async fn delete_webhook(&self, board: &str, id: &str) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("DELETE FROM webhooks WHERE board_id = $1 AND id = $2")
            .bind(board)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Delivers again from `since` (the next delivery is seq `since + 1`): active, no
    /// backoff. `None` if there is no such webhook.
    pub async fn replay_webhook(&self, board: &str, id: &str, since: u64) -> Result<Option<WebhookRow>, sqlx::Error> {
        let row = sqlx::query(concat!(
            "UPDATE webhooks SET delivered_seq = $1, status = 'active', failures = 0, next_attempt_at = 0, \
             last_error = NULL WHERE board_id = $2 AND id = $3 RETURNING ",
            columns!()
        ))
        .bind(since as i64)
        .bind(board)
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(webhook).transpose()
    }

    /// Pauses a webhook (the operator's console): no attempt is made until it is resumed,
    /// and its lease is dropped, so an attempt under way is not recorded (its change is
    /// sent again on resume, under the same `webhook-id`). `None`: no such webhook.
    pub async fn pause_webhook(&self, id: &str) -> Result<Option<WebhookRow>, sqlx::Error> {
        let row = sqlx::query(concat!(
            "UPDATE webhooks SET status = 'paused', lease_owner = NULL, lease_until = 0 WHERE id = $1 RETURNING ",
            columns!()
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(webhook).transpose()
    }

    /// Resumes a paused webhook from its position, at once. `None`: no such webhook; a
    /// webhook that was not paused is returned unchanged.
    pub async fn resume_webhook(&self, id: &str) -> Result<Option<WebhookRow>, sqlx::Error> {
        sqlx::query(
            "UPDATE webhooks SET status = 'active', failures = 0, next_attempt_at = 0 \
             WHERE id = $1 AND status = 'paused'",
        )
        .bind(id)
        .execute(self.pool())
        .await?;
        let row = sqlx::query(concat!("SELECT ", columns!(), " FROM webhooks WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(webhook).transpose()
    }

    /// The webhooks with something wrong or waiting, the largest backlog first, at most
    /// `limit`: behind their board's head, or not active. One query over every webhook
    /// (the console asks at most once per report interval, however many consoles are open).
    pub async fn webhook_backlogs(&self, limit: i64) -> Result<Vec<(WebhookRow, u64)>, sqlx::Error> {
        let rows = sqlx::query(concat!(
            "SELECT backlog, ",
            columns!(),
            " FROM (SELECT w.*, b.seq - w.delivered_seq AS backlog FROM webhooks w \
               JOIN boards b ON b.id = w.board_id) AS listed \
             WHERE backlog > 0 OR status <> 'active' ORDER BY backlog DESC, id LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|row| Ok((webhook(row)?, row.try_get::<i64, _>("backlog")?.max(0) as u64))).collect()
    }

    /// The newest `limit` attempts of a webhook's delivery log, newest first.
    pub async fn deliveries(&self, id: &str, limit: i64) -> Result<Vec<DeliveryRow>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT seq, attempt, status, error, duration_ms, at FROM webhook_deliveries \
             WHERE webhook_id = $1 ORDER BY n DESC LIMIT $2",
        )
        .bind(id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(DeliveryRow {
                    seq: row.try_get::<i64, _>("seq")? as u64,
                    attempt: row.try_get::<i64, _>("attempt")? as u32,
                    status: row.try_get::<Option<i64>, _>("status")?.map(|s| s as u16),
                    error: row.try_get("error")?,
                    duration_ms: row.try_get::<i64, _>("duration_ms")? as u64,
                    at: row.try_get("at")?,
                })
            })
            .collect()
    }

    /// Takes the lease of up to `limit` webhooks that have something to deliver now (not
    /// disabled, behind their board's head, past their backoff) and whose lease is free or
    /// lapsed; returns them, the longest due first. A board has at most `per_board` leased
    /// at once, whoever holds them: a board whose receivers hang holds that many slots, not
    /// every replica's. A lease held and not lapsed is never taken, not even by its owner
    /// (whose task for it is still running). The lease conditions are on the updated row
    /// itself, so two replicas racing for one webhook cannot both win (Postgres re-checks
    /// them on the row it locked; SQLite has one writer).
    pub async fn claim_webhooks(
        &self,
        owner: &str,
        lease: Duration,
        limit: i64,
        per_board: i64,
    ) -> Result<Vec<WebhookRow>, sqlx::Error> {
        let now = now_ms();
        let rows = sqlx::query(concat!(
            "UPDATE webhooks SET lease_owner = $1, lease_until = $2 \
             WHERE (lease_owner IS NULL OR lease_until < $3) AND status NOT IN ('disabled', 'paused') \
             AND next_attempt_at <= $3 AND id IN ( \
                 SELECT id FROM ( \
                     SELECT w.id, w.next_attempt_at, \
                         ROW_NUMBER() OVER (PARTITION BY w.board_id ORDER BY w.next_attempt_at, w.id) AS n, \
                         (SELECT COUNT(*) FROM webhooks l WHERE l.board_id = w.board_id \
                             AND l.lease_owner IS NOT NULL AND l.lease_until >= $3) AS leased \
                     FROM webhooks w JOIN boards b ON b.id = w.board_id \
                     WHERE w.status NOT IN ('disabled', 'paused') AND w.next_attempt_at <= $3 \
                     AND w.delivered_seq < b.seq \
                     AND (w.lease_owner IS NULL OR w.lease_until < $3) \
                 ) due WHERE n + leased <= $5 \
                 ORDER BY next_attempt_at, id LIMIT $4) \
             RETURNING ",
            columns!()
        ))
        .bind(owner)
        .bind(now + lease.as_millis() as i64)
        .bind(now)
        .bind(limit)
        .bind(per_board)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(webhook).collect()
    }

    /// Extends `owner`'s lease; `false` if it no longer holds it.
    pub async fn renew_lease(&self, id: &str, owner: &str, lease: Duration) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("UPDATE webhooks SET lease_until = $1 WHERE id = $2 AND lease_owner = $3")
            .bind(now_ms() + lease.as_millis() as i64)
            .bind(id)
            .bind(owner)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives the lease up (nothing left to deliver, or the replica is closing).
    pub async fn release_lease(&self, id: &str, owner: &str) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE webhooks SET lease_owner = NULL, lease_until = 0 WHERE id = $1 AND lease_owner = $2")
            .bind(id)
            .bind(owner)
            .execute(self.pool())
            .await
            .map(|_| ())
    }

    /// Records an attempt and what it means, in one transaction, while `owner` holds the
    /// lease: the delivery log entry, and the position (delivered), the backoff (retry) or
    /// the status (disabled). `false`: the lease was lost, nothing was written.
    pub async fn record_attempt(
        &self,
        id: &str,
        owner: &str,
        attempt: &Attempt,
        lease: Duration,
    ) -> Result<bool, sqlx::Error> {
        let (store, id, owner, attempt) = (self.clone(), id.to_owned(), owner.to_owned(), attempt.clone());
        super::detached(async move { store.record_attempt_now(&id, &owner, &attempt, lease).await }).await
    }

    async fn record_attempt_now(
        &self,
        id: &str,
        owner: &str,
        attempt: &Attempt,
        lease: Duration,
    ) -> Result<bool, sqlx::Error> {
        let now = now_ms();
        let mut tx = self.pool().begin().await?;
        // A write first: SQLite then takes its write lock at once (waiting its busy timeout)
        // instead of failing to upgrade a read lock later. Fenced by the owner; it numbers
        // the attempt in the log, and the failures before it number it at its seq.
        let row = sqlx::query(
            "UPDATE webhooks SET attempts = attempts + 1, lease_until = $1 \
             WHERE id = $2 AND lease_owner = $3 RETURNING attempts, failures",
        )
        .bind(now + lease.as_millis() as i64)
        .bind(id)
        .bind(owner)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(false);
        };
        let n: i64 = row.try_get("attempts")?;
        let number = row.try_get::<i64, _>("failures")? + 1;
        // A delivery moves the position only from where the attempt started (a replay
        // meanwhile keeps its place).
        let (delivered, status, next_attempt_at) = match attempt.outcome {
            Outcome::Delivered => (true, WebhookStatus::Active, 0),
            Outcome::RetryAt(at) => (false, WebhookStatus::Failing, at),
            Outcome::Disable => (false, WebhookStatus::Disabled, 0),
        };
        // Delivered: the lease goes on (the task delivers the next change). Otherwise the
        // task ends here, and so does its lease: the slot is free for another webhook, and
        // this one is leased again (by any replica) when its retry is due.
        sqlx::query(
            "UPDATE webhooks SET \
               delivered_seq = CASE WHEN $1 AND delivered_seq = $2 THEN $3 ELSE delivered_seq END, \
               failures = CASE WHEN $1 THEN 0 ELSE failures + 1 END, \
               lease_owner = CASE WHEN $1 THEN lease_owner ELSE NULL END, \
               lease_until = CASE WHEN $1 THEN lease_until ELSE 0 END, \
               status = CASE WHEN status = 'paused' THEN status ELSE $4 END, \
               last_error = $5, next_attempt_at = $6 \
             WHERE id = $7",
        )
        .bind(delivered)
        .bind(attempt.from as i64)
        .bind(attempt.seq as i64)
        .bind(status.as_str())
        .bind(attempt.error.as_deref())
        .bind(next_attempt_at)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO webhook_deliveries (webhook_id, n, seq, attempt, status, error, duration_ms, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id)
        .bind(n)
        .bind(attempt.seq as i64)
        .bind(number)
        .bind(attempt.status.map(i64::from))
        .bind(attempt.error.as_deref())
        .bind(attempt.duration_ms as i64)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM webhook_deliveries WHERE webhook_id = $1 AND n <= $2")
            .bind(id)
            .bind(n - DELIVERIES_KEPT)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }
}
