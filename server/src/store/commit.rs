//! The write path. One command is one transaction that:
//!
//! 1. takes the board's next seq (`UPDATE ... RETURNING`, which also serialises writers of
//!    the board: Postgres locks the row, SQLite the database, until commit);
//! 2. answers a repeated `Idempotency-Key` with the first answer, applying nothing (or
//!    refuses it, if the key was first used for a different command);
//! 3. decides and applies the command with the shared domain code;
//! 4. writes the changed rows (the ops say which), the change-log entry and the key;
//! 5. prunes the log beyond its retention.
//!
//! Any failure before commit rolls everything back, including the seq, so seqs stay
//! 1, 2, 3, ... with no gap even when commands are refused.

use std::sync::Arc;

use serde::Serialize;
use sqlx::{AnyConnection, Row};

use board_core::api::CommandAnswer;
use board_core::domain::undo::Step;
use board_core::domain::{decide::respace_due, execute_within, BoardState, Command, DomainError, Event, Id, Op, Todo};
use board_core::patterns::ChangeRecord;

use super::reads::load_state;
use super::{detached, now_ms, rows, Store};

/// What one commit writes.
#[derive(Clone, Debug)]
pub enum Write {
    /// A client's command.
    Command(Command),
    /// The server re-spaces a column's position keys (see `board_core::domain::position`): a
    /// change of its own, in the log like any other, never asked for by a client.
    Respace { sprint_id: Option<Id> },
}

/// What came with a command besides itself: its Idempotency-Key (a retry gets the first
/// answer) and its actor (the sender's presence name, kept in the log for history).
#[derive(Clone, Copy, Debug, Default)]
pub struct Envelope<'a> {
    pub key: Option<&'a str>,
    pub actor: Option<&'a str>,
}

/// A change that committed just now.
#[derive(Clone, Debug)]
pub struct Committed {
    pub record: ChangeRecord,
    /// The board right after the change: feeds the snapshot cache and `push-state`.
    pub state: Arc<BoardState>,
    pub answer: CommandAnswer,
    /// The column this change left with a long position key: the caller commits
    /// [`Write::Respace`] for it next.
    pub respace: Option<Option<Id>>,
}

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error("board `{0}` does not exist")]
    NoBoard(String),
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The Idempotency-Key was first used with a different command.
    #[error("Idempotency-Key `{0}` was already used for a different command")]
    KeyReused(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Where a commit can find the board at a given seq without reading its rows: this
/// replica's snapshot cache, asked only once the commit holds the board's next seq (so a
/// change that committed while this one waited for the lock is already in it).
pub type Cached = Box<dyn Fn(u64) -> Option<Arc<BoardState>> + Send>;

/// What `commit` did.
#[derive(Debug)]
pub enum Outcome {
    Committed(Box<Committed>),
    /// The Idempotency-Key was seen before: this is the first answer, nothing was applied.
    Replayed(CommandAnswer),
}

impl Store {
    /// Runs one write in one transaction (see the module doc).
    ///
    /// `cached` is asked for the board at the seq before this write's; without it, the
    /// rows are read (inside the transaction, so the cost of a cache miss is one read).
    /// The transaction runs on a task of its own (see [`detached`]): a request that is
    /// cancelled midway neither leaves the connection mid-transaction nor cancels a commit.
    pub async fn commit(
        &self,
        board: &str,
        write: Write,
        envelope: Envelope<'_>,
        cached: Cached,
    ) -> Result<Outcome, CommitError> {
        let (store, board) = (self.clone(), board.to_owned());
        let (key, actor) = (envelope.key.map(str::to_owned), envelope.actor.map(str::to_owned));
        detached(async move {
            let envelope = Envelope { key: key.as_deref(), actor: actor.as_deref() };
            store.commit_now(&board, &write, envelope, cached).await
        })
        .await
    }

    async fn commit_now(
        &self,
        board: &str,
        write: &Write,
        envelope: Envelope<'_>,
        cached: Cached,
    ) -> Result<Outcome, CommitError> {
        let idempotency_key = envelope.key;
        let mut tx = self.pool().begin().await?;
        let row = sqlx::query("UPDATE boards SET seq = seq + 1 WHERE id = $1 RETURNING seq, pruned_through, log_bytes")
            .bind(board)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| CommitError::NoBoard(board.to_owned()))?;
        let seq = row.try_get::<i64, _>("seq")? as u64;
        let pruned_through = row.try_get::<i64, _>("pruned_through")? as u64;
        let log_bytes = row.try_get::<i64, _>("log_bytes")? as u64;

        // The command as the key remembers it: its normalised JSON, so the same command
        // sent with its fields in another order still matches.
        let request = match write {
            Write::Command(command) => to_json(command),
            Write::Respace { .. } => String::new(),
        };
        if let Some(key) = idempotency_key {
            // A key older than the TTL is forgotten, even before the sweep removes it.
            let first = sqlx::query(
                "SELECT response, request FROM idempotency_keys WHERE board_id = $1 AND key = $2 AND created_at >= $3",
            )
            .bind(board)
            .bind(key)
            .bind(now_ms() - self.idempotency_ttl_ms())
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(first) = first {
                tx.rollback().await?;
                let first_request: String = first.try_get("request")?;
                if !first_request.is_empty() && first_request != request {
                    return Err(CommitError::KeyReused(key.to_owned()));
                }
                return Ok(Outcome::Replayed(rows::json(&first, "response")?));
            }
        }

        let before = match cached(seq - 1).filter(|state| state.seq + 1 == seq) {
            Some(state) => state,
            None => {
                let mut state =
                    load_state(&mut tx, board).await?.ok_or_else(|| CommitError::NoBoard(board.to_owned()))?;
                // The rows are at seq-1; the board row already says seq.
                state.seq = seq - 1;
                Arc::new(state)
            }
        };
        let done = match write {
            Write::Command(command) => execute_within(&before, command, self.board_limits())?,
            Write::Respace { sprint_id } => {
                board_core::domain::apply(&before, Event::ColumnRespaced { sprint_id: *sprint_id })
            }
        };
        let respace = respace_due(&done.state, &done.event);
        debug_assert_eq!(done.state.seq, seq, "the domain and the log agree on the seq");

        write_rows(&mut tx, board, &done.ops).await?;
        let at = now_ms();
        let record = ChangeRecord::new(&done, at).keyed(idempotency_key).by(envelope.actor);
        let (event, ops, diff) = (to_json(&record.event), to_json(&record.ops), to_json(&record.diff));
        let bytes = (event.len() + ops.len() + diff.len()) as u64;
        sqlx::query(
            "INSERT INTO changes (board_id, seq, at, event, ops, diff, command_key, bytes, actor, todo_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(board)
        .bind(seq as i64)
        .bind(at)
        .bind(event)
        .bind(ops)
        .bind(diff)
        .bind(record.key.as_deref())
        .bind(bytes as i64)
        .bind(record.actor.as_deref())
        .bind(record.event.todo_id())
        .execute(&mut *tx)
        .await?;
        if seq.is_multiple_of(self.snapshot_every) {
            // History's stepping stone: the board at this seq, in this change's transaction
            // (so a snapshot never names a seq that did not commit).
            sqlx::query("INSERT INTO snapshots (board_id, seq, state) VALUES ($1, $2, $3)")
                .bind(board)
                .bind(seq as i64)
                .bind(to_json(&done.state))
                .execute(&mut *tx)
                .await?;
        }

        // The sender's undo needs the todo just before and after: only here is "before"
        // exactly the board the command applied to.
        let step = match write {
            Write::Command(_) => Step::of(&before, &done.state, &done.event).map(Box::new),
            Write::Respace { .. } => None,
        };
        let answer = CommandAnswer { seq, id: done.created, event: done.event, step };
        if let Some(key) = idempotency_key {
            sqlx::query(
                "INSERT INTO idempotency_keys (board_id, key, response, created_at, request) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (board_id, key) DO UPDATE \
                 SET response = excluded.response, created_at = excluded.created_at, request = excluded.request",
            )
            .bind(board)
            .bind(key)
            .bind(to_json(&answer))
            .bind(at)
            .bind(request)
                .execute(&mut *tx)
                .await?;
        }
        self.prune(&mut tx, board, seq, pruned_through, log_bytes + bytes).await?;
        tx.commit().await?;
        Ok(Outcome::Committed(Box::new(Committed { record, state: Arc::new(done.state), answer, respace })))
    }

    /// Removes stored Idempotency-Key answers older than `ttl`, and all but the newest
    /// `keep_per_board` of any board; returns how many went.
    pub async fn forget_idempotency_keys(
        &self,
        ttl: std::time::Duration,
        keep_per_board: u64,
    ) -> Result<u64, sqlx::Error> {
        let expired = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
            .bind(now_ms() - ttl.as_millis() as i64)
            .execute(self.pool())
            .await?;
        let surplus = sqlx::query(
            "DELETE FROM idempotency_keys WHERE (board_id, key) IN ( \
               SELECT board_id, key FROM ( \
                 SELECT board_id, key, ROW_NUMBER() OVER (PARTITION BY board_id ORDER BY created_at DESC, key) AS n \
                 FROM idempotency_keys) ranked \
               WHERE n > $1)",
        )
        .bind(keep_per_board as i64)
        .execute(self.pool())
        .await?;
        Ok(expired.rows_affected() + surplus.rows_affected())
    }

    /// Drops log entries beyond the retention, remembering how far it pruned.
    /// Keeps the board's log within [`Store::retain`] changes and [`Store::retain_bytes`]
    /// bytes (`log_bytes`, with the change just written), the oldest going first; never
    /// the change just written (`seq`). The board's `log_bytes` moves with what goes.
    async fn prune(
        &self,
        tx: &mut AnyConnection,
        board: &str,
        seq: u64,
        pruned_through: u64,
        log_bytes: u64,
    ) -> Result<(), sqlx::Error> {
        let mut keep_after = seq.saturating_sub(self.retain).max(pruned_through);
        if log_bytes > self.retain_bytes {
            // The newest change whose own size and all newer ones' pass the quota: it and
            // everything older go.
            let over = sqlx::query(
                "SELECT seq FROM (SELECT seq, SUM(bytes) OVER (ORDER BY seq DESC) AS newer \
                 FROM changes WHERE board_id = $1) log WHERE newer > $2 ORDER BY seq DESC LIMIT 1",
            )
            .bind(board)
            .bind(self.retain_bytes as i64)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(over) = over {
                let over = over.try_get::<i64, _>("seq")? as u64;
                keep_after = keep_after.max(over.min(seq - 1));
            }
        }
        if keep_after > pruned_through {
            // A snapshot below the log's new start can no longer be replayed forward.
            sqlx::query("DELETE FROM snapshots WHERE board_id = $1 AND seq < $2")
                .bind(board)
                .bind(keep_after as i64)
                .execute(&mut *tx)
                .await?;
        }
        let gone = if keep_after > pruned_through {
            let gone = sqlx::query("DELETE FROM changes WHERE board_id = $1 AND seq <= $2 RETURNING bytes")
                .bind(board)
                .bind(keep_after as i64)
                .fetch_all(&mut *tx)
                .await?;
            gone.iter().map(|row| row.try_get::<i64, _>("bytes").unwrap_or(0) as u64).sum::<u64>()
        } else {
            0
        };
        sqlx::query("UPDATE boards SET pruned_through = $2, log_bytes = $3 WHERE id = $1")
            .bind(board)
            .bind(keep_after.max(pruned_through) as i64)
            .bind(log_bytes.saturating_sub(gone) as i64)
            .execute(&mut *tx)
            .await?;
        Ok(())
    }
}

/// Writes what the ops say changed: the same ops a `push-ops` client applies.
async fn write_rows(tx: &mut AnyConnection, board: &str, ops: &[Op]) -> Result<(), sqlx::Error> {
    let mut i = 0;
    while i < ops.len() {
        // A run of todo puts (a sprint completing, a column re-spaced) goes in batches:
        // one statement per hundred rows, not one per row, so the rare change that
        // touches a whole column holds the write lock for milliseconds, not seconds.
        let run = ops[i..].iter().take_while(|op| matches!(op, Op::PutTodo { .. })).count();
        if run > 0 {
            let todos: Vec<&Todo> = ops[i..i + run]
                .iter()
                .map(|op| match op {
                    Op::PutTodo { todo } => todo,
                    _ => unreachable!("the run holds puts only"),
                })
                .collect();
            for batch in todos.chunks(TODO_BATCH) {
                put_todos(tx, board, batch).await?;
            }
            i += run;
            continue;
        }
        write_row(tx, board, &ops[i]).await?;
        i += 1;
    }
    Ok(())
}

/// Rows per `INSERT` of todos: 7 parameters each, far below either database's limit.
const TODO_BATCH: usize = 100;

async fn put_todos(tx: &mut AnyConnection, board: &str, todos: &[&Todo]) -> Result<(), sqlx::Error> {
    let rows: Vec<String> = (0..todos.len())
        .map(|r| {
            let p = r * 6 + 2;
            format!("($1, ${}, ${}, ${}, ${}, ${}, ${})", p, p + 1, p + 2, p + 3, p + 4, p + 5)
        })
        .collect();
    let sql = format!(
        "INSERT INTO todos (board_id, id, title, status, sprint_id, position, version) VALUES {} \
         ON CONFLICT (board_id, id) DO UPDATE SET title = excluded.title, status = excluded.status, \
         sprint_id = excluded.sprint_id, position = excluded.position, version = excluded.version",
        rows.join(", ")
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(board);
    for todo in todos {
        query = query
            .bind(todo.id)
            .bind(todo.title.as_str())
            .bind(todo.status.as_str())
            .bind(todo.sprint_id)
            .bind(todo.position.as_str())
            .bind(todo.version as i64);
    }
    query.execute(&mut *tx).await?;
    Ok(())
}

/// Writes one op other than a todo put.
async fn write_row(tx: &mut AnyConnection, board: &str, op: &Op) -> Result<(), sqlx::Error> {
    match op {
        Op::PutTodo { todo } => put_todos(tx, board, &[todo]).await?,
        Op::DeleteTodo { id } => {
            sqlx::query("DELETE FROM todos WHERE board_id = $1 AND id = $2")
                .bind(board)
                .bind(*id)
                .execute(&mut *tx)
                .await?;
        }
        Op::PutSprint { sprint } => {
            sqlx::query(
                "INSERT INTO sprints (board_id, id, name, status) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (board_id, id) DO UPDATE SET name = excluded.name, status = excluded.status",
            )
            .bind(board)
            .bind(sprint.id)
            .bind(sprint.name.as_str())
            .bind(sprint.status.as_str())
            .execute(&mut *tx)
            .await?;
        }
        Op::DeleteSprint { id } => {
            sqlx::query("DELETE FROM sprints WHERE board_id = $1 AND id = $2")
                .bind(board)
                .bind(*id)
                .execute(&mut *tx)
                .await?;
        }
        Op::SetBoardName { name } => {
            sqlx::query("UPDATE boards SET name = $2 WHERE id = $1")
                .bind(board)
                .bind(name.as_str())
                .execute(&mut *tx)
                .await?;
        }
    }
    Ok(())
}

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("domain values always serialise")
}
