//! Reading the past: the board as it was at an earlier seq, and the changes one todo went
//! through. Both read only the log and its snapshots (docs/history.md).
//!
//! The board at seq N is the newest snapshot at or below N (one every `SNAPSHOT_EVERY`
//! seqs, written by the commit that reached it; or the empty board, while the log still
//! starts at seq 1) plus the events after it up to N, replayed through the shared reducer:
//! fewer than `SNAPSHOT_EVERY` of them, so a read's cost is bounded whatever the log's
//! length. History reaches back to its *floor*: the oldest snapshot the log still reaches
//! past (older changes were pruned, `LOG_RETAIN`).

use sqlx::{AnyConnection, Row};

use board_core::api::HistoryEntry;
use board_core::domain::{evolve::evolve, BoardState, Diff, Event, Id};

use super::reads::{load_state, log_row, LogRow};
use super::{detached, rows, Store};

/// The board at seq N.
#[derive(Debug)]
pub struct Past {
    pub state: BoardState,
    pub floor: u64,
    pub head: u64,
    /// The change at N (none at seq 0).
    pub change: Option<HistoryEntry>,
    /// Up to the asked number of changes after N.
    pub then: Vec<HistoryEntry>,
}

/// Why there is no board at seq N.
#[derive(Debug)]
pub enum Outside {
    /// N is beyond the head.
    BeyondHead { head: u64 },
    /// N is older than history reaches.
    BeforeFloor { floor: u64, head: u64 },
}

/// A todo's changes, oldest first.
#[derive(Debug)]
pub struct TodoHistory {
    pub floor: u64,
    pub head: u64,
    pub changes: Vec<HistoryEntry>,
    /// Older retained changes did not fit.
    pub more: bool,
}

impl Store {
    /// The board at seq `at`, with the change at it and up to `then` changes after it, or
    /// why not. `None` if the board does not exist.
    pub async fn history_at(
        &self,
        board: &str,
        at: u64,
        then: u64,
    ) -> Result<Option<Result<Past, Outside>>, sqlx::Error> {
        let (store, board) = (self.clone(), board.to_owned());
        detached(async move { store.history_at_now(&board, at, then).await }).await
    }

    async fn history_at_now(
        &self,
        board: &str,
        at: u64,
        then: u64,
    ) -> Result<Option<Result<Past, Outside>>, sqlx::Error> {
        // One transaction: the snapshot, the log and the head belong to one moment.
        let mut tx = self.pool().begin().await?;
        let Some((head, floor, name)) = bounds(&mut tx, board).await? else { return Ok(None) };
        if at > head {
            return Ok(Some(Err(Outside::BeyondHead { head })));
        }
        if at < floor {
            return Ok(Some(Err(Outside::BeforeFloor { floor, head })));
        }
        // Even at the head: one snapshot parsed and a few hundred events replayed cost a
        // third of reading a large board's rows (`benches/history.rs`).
        let snapshot = sqlx::query(
            "SELECT state FROM snapshots WHERE board_id = $1 AND seq <= $2 AND seq >= $3 ORDER BY seq DESC LIMIT 1",
        )
        .bind(board)
        .bind(at as i64)
        .bind(floor as i64)
        .fetch_optional(&mut *tx)
        .await?;
        let mut state = match snapshot {
            Some(row) => rows::json(&row, "state")?,
            // The log still starts at seq 1: the empty board is the first snapshot.
            None if floor == 0 => BoardState::empty(board, &name),
            // Pruned with no snapshot past it: only now is left (`at` is the head), in the
            // current rows.
            None => load_state(&mut tx, board).await?.unwrap_or_else(|| BoardState::empty(board, &name)),
        };
        // The events to replay, then the change at `at` and the ones after it. Diffs are
        // read only where they are shown: a replayed event needs none.
        let rows = sqlx::query(
            "SELECT seq, at, event, actor, CASE WHEN seq >= $3 THEN diff ELSE '' END AS diff FROM changes \
             WHERE board_id = $1 AND seq > $2 AND seq <= $4 ORDER BY seq",
        )
        .bind(board)
        .bind(state.seq.min(at.saturating_sub(1)) as i64)
        .bind(at as i64)
        .bind(at.saturating_add(then).min(head) as i64)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut change = None;
        let mut after = Vec::new();
        for row in &rows {
            let seq = row.try_get::<i64, _>("seq")? as u64;
            if seq <= state.seq {
                // The head's own change, read for its entry; the rows already hold it.
                if seq == at {
                    change = Some(entry(row)?);
                }
                continue;
            }
            if seq < at {
                let event: Event = rows::json(row, "event")?;
                evolve(&mut state, &event);
            } else if seq == at {
                let entry = entry(row)?;
                evolve(&mut state, &entry.event);
                change = Some(entry);
            } else {
                after.push(entry(row)?);
            }
        }
        debug_assert_eq!(state.seq, at, "the log is contiguous from the snapshot");
        Ok(Some(Ok(Past { state, floor, head, change, then: after })))
    }

    /// Up to `limit` of the newest retained changes that touched todo `id`, oldest first:
    /// its own (added, renamed, re-statused, moved, deleted, restored) and a sprint's
    /// completion that sent it back to the backlog. Re-spacing is not listed: it changes
    /// only order keys, nothing a person sees. `None` if the board does not exist.
    pub async fn todo_history(&self, board: &str, id: Id, limit: usize) -> Result<Option<TodoHistory>, sqlx::Error> {
        let (store, board) = (self.clone(), board.to_owned());
        detached(async move { store.todo_history_now(&board, id, limit).await }).await
    }

    async fn todo_history_now(&self, board: &str, id: Id, limit: usize) -> Result<Option<TodoHistory>, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        let Some((head, floor, _)) = bounds(&mut tx, board).await? else { return Ok(None) };
        // The index on (board_id, todo_id, seq) finds the todo's own changes; a sprint's
        // completion names no todo, and there are at most as many as sprints.
        let rows = sqlx::query(
            "SELECT seq, at, event, actor, diff FROM changes WHERE board_id = $1 \
             AND (todo_id = $2 OR (todo_id IS NULL AND event LIKE '{\"type\":\"sprint_completed\"%')) \
             ORDER BY seq DESC LIMIT $3",
        )
        .bind(board)
        .bind(id)
        .bind(limit as i64 + 1)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let more = rows.len() > limit;
        let mut changes = Vec::new();
        for row in rows.iter().take(limit) {
            let entry = entry(row)?;
            if entry.event.todo_id().is_some() || touches(&entry.diff, id) {
                changes.push(entry);
            }
        }
        changes.reverse();
        Ok(Some(TodoHistory { floor, head, changes, more }))
    }
}

/// A board's head, its history floor and its name; `None` if it does not exist. The floor
/// is 0 while the log starts at seq 1 (the empty board is the first snapshot); once pruned,
/// the oldest snapshot at or past the pruned seq; without one, the head (only now is left).
async fn bounds(tx: &mut AnyConnection, board: &str) -> Result<Option<(u64, u64, String)>, sqlx::Error> {
    let Some(LogRow { head, pruned_through, name }) = log_row(tx, board).await? else { return Ok(None) };
    let floor = if pruned_through == 0 {
        0
    } else {
        sqlx::query("SELECT MIN(seq) AS seq FROM snapshots WHERE board_id = $1 AND seq >= $2")
            .bind(board)
            .bind(pruned_through as i64)
            .fetch_one(&mut *tx)
            .await?
            .try_get::<Option<i64>, _>("seq")?
            .map_or(head, |seq| seq as u64)
    };
    Ok(Some((head, floor, name)))
}

fn entry(row: &sqlx::any::AnyRow) -> Result<HistoryEntry, sqlx::Error> {
    Ok(HistoryEntry {
        seq: row.try_get::<i64, _>("seq")? as u64,
        at: row.try_get("at")?,
        actor: row.try_get("actor")?,
        event: rows::json(row, "event")?,
        diff: rows::json(row, "diff")?,
    })
}

/// Does the diff change todo `id`?
fn touches(diff: &Diff, id: Id) -> bool {
    use board_core::domain::diff::EntityDiff;
    diff.todos.iter().any(|change| match change {
        EntityDiff::Created { id: t, .. } | EntityDiff::Updated { id: t, .. } | EntityDiff::Deleted { id: t } => {
            *t == id
        }
    })
}
