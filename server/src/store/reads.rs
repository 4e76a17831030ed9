//! Reads: a board's state and head, and its changes since a seq.

use sqlx::{AnyConnection, Row};

use board_core::domain::{Board, BoardState};
use board_core::patterns::ChangeRecord;

use super::{detached, rows, Store};

/// The answer to "changes after `since`".
#[derive(Debug)]
pub enum ChangesSince {
    /// The changes after `since`, in seq order (at most the page size), and the head.
    Changes { head: u64, changes: Vec<ChangeRecord> },
    /// `since` is older than the retained log: the client needs a fresh snapshot.
    Pruned { head: u64 },
}

/// A board as it is now, with what the change at its head seq said of itself.
#[derive(Debug)]
pub struct Loaded {
    pub state: BoardState,
    /// Commit time of the head seq, Unix ms (0 at seq 0, or once that change is pruned).
    pub at: i64,
    /// The Idempotency-Key of the head seq's command, if it had one (and is retained):
    /// a frame that brings a client to this board carries it.
    pub key: Option<String>,
}

impl Store {
    /// The head seq of a board, `None` if it does not exist.
    pub async fn head(&self, board: &str) -> Result<Option<u64>, sqlx::Error> {
        // Counted: a replica that does not follow a board reads its head per request, and
        // the scale benchmark compares that with board affinity on and off.
        metrics::counter!("board_head_reads_total").increment(1);
        let row = sqlx::query("SELECT seq FROM boards WHERE id = $1").bind(board).fetch_optional(self.pool()).await?;
        row.map(|r| r.try_get::<i64, _>("seq").map(|s| s as u64)).transpose()
    }

    /// The board as it is now, with its head change's commit time and key.
    pub async fn load(&self, board: &str) -> Result<Option<Loaded>, sqlx::Error> {
        let (store, board) = (self.clone(), board.to_owned());
        detached(async move { store.load_now(&board).await }).await
    }

    async fn load_now(&self, board: &str) -> Result<Option<Loaded>, sqlx::Error> {
        // One transaction so the rows and the seq belong to the same commit.
        let mut tx = self.pool().begin().await?;
        let Some(state) = load_state(&mut tx, board).await? else { return Ok(None) };
        let head = match state.seq {
            0 => None,
            seq => sqlx::query("SELECT at, command_key FROM changes WHERE board_id = $1 AND seq = $2")
                .bind(board)
                .bind(seq as i64)
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| {
                    Ok::<_, sqlx::Error>((r.try_get::<i64, _>("at")?, r.try_get::<Option<String>, _>("command_key")?))
                })
                .transpose()?,
        };
        tx.commit().await?;
        let (at, key) = head.unwrap_or_default();
        Ok(Some(Loaded { state, at, key }))
    }

    /// Up to `limit` changes after `since`. `None` if the board does not exist.
    pub async fn changes_since(
        &self,
        board: &str,
        since: u64,
        limit: i64,
    ) -> Result<Option<ChangesSince>, sqlx::Error> {
        let (store, board) = (self.clone(), board.to_owned());
        detached(async move { store.changes_since_now(&board, since, limit).await }).await
    }

    async fn changes_since_now(
        &self,
        board: &str,
        since: u64,
        limit: i64,
    ) -> Result<Option<ChangesSince>, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        let Some(LogRow { head, pruned_through, .. }) = log_row(&mut tx, board).await? else { return Ok(None) };
        if since < pruned_through {
            return Ok(Some(ChangesSince::Pruned { head }));
        }
        let rows = sqlx::query(
            "SELECT seq, at, event, ops, diff, command_key, actor FROM changes WHERE board_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(board)
        .bind(since as i64)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let changes = rows
            .iter()
            .map(|r| {
                Ok(ChangeRecord {
                    seq: r.try_get::<i64, _>("seq")? as u64,
                    at: r.try_get("at")?,
                    event: rows::json(r, "event")?,
                    ops: rows::json(r, "ops")?,
                    diff: rows::json(r, "diff")?,
                    key: r.try_get("command_key")?,
                    actor: r.try_get("actor")?,
                    // Only live frames carry a trace: the log keeps none.
                    trace: None,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        Ok(Some(ChangesSince::Changes { head, changes }))
    }
}

/// Where a board's log stands: its head, the seq it was pruned through, and the board's
/// name (what the empty board at seq 0 is called).
pub(super) struct LogRow {
    pub head: u64,
    pub pruned_through: u64,
    pub name: String,
}

/// The board's [`LogRow`], `None` if it does not exist.
pub(super) async fn log_row(conn: &mut AnyConnection, board: &str) -> Result<Option<LogRow>, sqlx::Error> {
    let row = sqlx::query("SELECT seq, pruned_through, name FROM boards WHERE id = $1")
        .bind(board)
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|row| {
        Ok(LogRow {
            head: row.try_get::<i64, _>("seq")? as u64,
            pruned_through: row.try_get::<i64, _>("pruned_through")? as u64,
            name: row.try_get("name")?,
        })
    })
    .transpose()
}

/// The current rows of a board, read through any executor (a pool or a transaction).
pub(super) async fn load_state(conn: &mut AnyConnection, board: &str) -> Result<Option<BoardState>, sqlx::Error> {
    let Some(row) =
        sqlx::query("SELECT id, name, seq FROM boards WHERE id = $1").bind(board).fetch_optional(&mut *conn).await?
    else {
        return Ok(None);
    };
    let board_row = Board { id: row.try_get("id")?, name: row.try_get("name")? };
    let seq = row.try_get::<i64, _>("seq")? as u64;
    let sprints = sqlx::query("SELECT id, name, status FROM sprints WHERE board_id = $1 ORDER BY id")
        .bind(board)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(rows::sprint)
        .collect::<Result<_, _>>()?;
    let todos = sqlx::query(
        "SELECT id, title, status, sprint_id, position, version FROM todos WHERE board_id = $1 ORDER BY id",
    )
    .bind(board)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(rows::todo)
    .collect::<Result<_, _>>()?;
    Ok(Some(BoardState { seq, board: board_row, sprints, todos }))
}
