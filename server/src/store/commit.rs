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

use app::api::CommandAnswer;
use app::domain::{execute_within, BoardState, Command, DomainError, Op};
use app::patterns::ChangeRecord;

use super::reads::load_state;
use super::{detached, now_ms, rows, Store};

/// A command that committed just now.
#[derive(Clone, Debug)]
pub struct Committed {
    pub record: ChangeRecord,
    /// The board right after the change: feeds the snapshot cache and `push-state`.
    pub state: BoardState,
    pub answer: CommandAnswer,
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

/// What `commit` did.
#[derive(Debug)]
pub enum Outcome {
    Committed(Box<Committed>),
    /// The Idempotency-Key was seen before: this is the first answer, nothing was applied.
    Replayed(CommandAnswer),
}

impl Store {
    /// Runs one command in one transaction (see the module doc).
    ///
    /// `cached` is this replica's newest copy of the board; it is used only if it is
    /// exactly at the seq before this command's, otherwise the rows are read.
    /// The transaction runs on a task of its own (see [`detached`]): a request that is
    /// cancelled midway neither leaves the connection mid-transaction nor cancels a commit.
    pub async fn commit(
        &self,
        board: &str,
        command: &Command,
        idempotency_key: Option<&str>,
        cached: Option<Arc<BoardState>>,
    ) -> Result<Outcome, CommitError> {
        let (store, board, command, key) =
            (self.clone(), board.to_owned(), command.clone(), idempotency_key.map(str::to_owned));
        detached(async move { store.commit_now(&board, &command, key.as_deref(), cached.as_deref()).await }).await
    }

    async fn commit_now(
        &self,
        board: &str,
        command: &Command,
        idempotency_key: Option<&str>,
        cached: Option<&BoardState>,
    ) -> Result<Outcome, CommitError> {
        let mut tx = self.pool().begin().await?;
        let row = sqlx::query("UPDATE boards SET seq = seq + 1 WHERE id = $1 RETURNING seq, pruned_through")
            .bind(board)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| CommitError::NoBoard(board.to_owned()))?;
        let seq = row.try_get::<i64, _>("seq")? as u64;
        let pruned_through = row.try_get::<i64, _>("pruned_through")? as u64;

        // The command as the key remembers it: its normalised JSON, so the same command
        // sent with its fields in another order still matches.
        let request = to_json(command);
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

        let before = match cached {
            Some(state) if state.seq + 1 == seq => state.clone(),
            _ => {
                let mut state =
                    load_state(&mut tx, board).await?.ok_or_else(|| CommitError::NoBoard(board.to_owned()))?;
                // The rows are at seq-1; the board row already says seq.
                state.seq = seq - 1;
                state
            }
        };
        let done = execute_within(&before, command, self.board_limits())?;
        debug_assert_eq!(done.state.seq, seq, "the domain and the log agree on the seq");

        write_rows(&mut tx, board, &done.ops).await?;
        let at = now_ms();
        let record = ChangeRecord { seq, at, event: done.event.clone(), ops: done.ops, diff: done.diff };
        sqlx::query("INSERT INTO changes (board_id, seq, at, event, ops, diff) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(board)
            .bind(seq as i64)
            .bind(at)
            .bind(to_json(&record.event))
            .bind(to_json(&record.ops))
            .bind(to_json(&record.diff))
            .execute(&mut *tx)
            .await?;

        let answer = CommandAnswer { seq, id: done.created, event: done.event };
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
        self.prune(&mut tx, board, seq, pruned_through).await?;
        tx.commit().await?;
        Ok(Outcome::Committed(Box::new(Committed { record, state: done.state, answer })))
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
    async fn prune(
        &self,
        tx: &mut AnyConnection,
        board: &str,
        seq: u64,
        pruned_through: u64,
    ) -> Result<(), sqlx::Error> {
        let keep_after = seq.saturating_sub(self.retain);
        if keep_after <= pruned_through {
            return Ok(());
        }
        sqlx::query("DELETE FROM changes WHERE board_id = $1 AND seq <= $2")
            .bind(board)
            .bind(keep_after as i64)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE boards SET pruned_through = $2 WHERE id = $1")
            .bind(board)
            .bind(keep_after as i64)
            .execute(&mut *tx)
            .await?;
        Ok(())
    }
}

/// Writes what the ops say changed: the same ops a `push-ops` client applies.
async fn write_rows(tx: &mut AnyConnection, board: &str, ops: &[Op]) -> Result<(), sqlx::Error> {
    for op in ops {
        match op {
            Op::PutTodo { todo } => {
                sqlx::query(
                    "INSERT INTO todos (board_id, id, title, status, sprint_id, position, version) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (board_id, id) DO UPDATE SET title = excluded.title, status = excluded.status, \
                     sprint_id = excluded.sprint_id, position = excluded.position, version = excluded.version",
                )
                .bind(board)
                .bind(todo.id)
                .bind(todo.title.as_str())
                .bind(todo.status.as_str())
                .bind(todo.sprint_id)
                .bind(i64::from(todo.position))
                .bind(todo.version as i64)
                .execute(&mut *tx)
                .await?;
            }
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
    }
    Ok(())
}

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("domain values always serialise")
}
