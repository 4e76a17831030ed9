//! Boards as the access gate sees them: created public or private with the hashes of their
//! keys, read back for every check, their keys rotated.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use board_core::api::BoardSummary;

use super::{now_ms, Store};

/// Who may open a board without a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Anyone reads and writes it (the seeded demo).
    Public,
    /// Only holders of its read key (read) or write key (read and write).
    #[default]
    Private,
}

impl Visibility {
    fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Private => "private",
        }
    }
}

/// A board to create.
pub struct NewBoard<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub visibility: Visibility,
    /// The hashes of its read and write keys (`None`: a board nobody holds keys for, such
    /// as the seeded demo).
    pub key_hashes: Option<(String, String)>,
}

/// What the gate needs to know about a board.
#[derive(Clone, Debug)]
pub struct BoardAccess {
    pub visibility: Visibility,
    pub read_hash: Option<String>,
    pub write_hash: Option<String>,
    /// How many times its keys were rotated: a stream opened under an older generation ends.
    pub keys_rev: u64,
    /// Which incarnation of the board's history this is (see `stream`): positions are
    /// `(epoch, seq)`.
    pub epoch: String,
}

/// A fresh epoch: 64 random bits, URL-safe (it travels in SSE ids, ETags and query strings).
fn new_epoch() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 8];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl Store {
    /// Creates an empty board at seq 0; `false` if the id is taken.
    pub async fn create_board(&self, board: &NewBoard<'_>) -> Result<bool, sqlx::Error> {
        let (read_hash, write_hash) = board.key_hashes.clone().unzip();
        let done = sqlx::query(
            "INSERT INTO boards (id, name, seq, pruned_through, created_at, visibility, read_key_hash, write_key_hash, epoch) \
             VALUES ($1, $2, 0, 0, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
        )
        .bind(board.id)
        .bind(board.name)
        .bind(now_ms())
        .bind(board.visibility.as_str())
        .bind(read_hash)
        .bind(write_hash)
        .bind(new_epoch())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The board's visibility, key hashes, key generation and epoch; `None` if it does not
    /// exist.
    pub async fn board_access(&self, board: &str) -> Result<Option<BoardAccess>, sqlx::Error> {
        let Some(row) =
            sqlx::query("SELECT visibility, read_key_hash, write_key_hash, keys_rev, epoch FROM boards WHERE id = $1")
                .bind(board)
                .fetch_optional(self.pool())
                .await?
        else {
            return Ok(None);
        };
        let visibility = match row.try_get::<String, _>("visibility")?.as_str() {
            "public" => Visibility::Public,
            _ => Visibility::Private,
        };
        Ok(Some(BoardAccess {
            visibility,
            read_hash: row.try_get("read_key_hash")?,
            write_hash: row.try_get("write_key_hash")?,
            keys_rev: row.try_get::<i64, _>("keys_rev")? as u64,
            epoch: row.try_get("epoch")?,
        }))
    }

    /// Replaces both key hashes and moves the key generation on, but only if the board is
    /// still at `rev` (two rotations racing: one wins, the other is refused). Returns the
    /// new generation, or `None` if the board moved on or is gone.
    pub async fn rotate_keys(
        &self,
        board: &str,
        rev: u64,
        read_hash: &str,
        write_hash: &str,
    ) -> Result<Option<u64>, sqlx::Error> {
        let row = sqlx::query(
            "UPDATE boards SET read_key_hash = $1, write_key_hash = $2, keys_rev = keys_rev + 1 \
             WHERE id = $3 AND keys_rev = $4 RETURNING keys_rev",
        )
        .bind(read_hash)
        .bind(write_hash)
        .bind(board)
        .bind(rev as i64)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| r.try_get::<i64, _>("keys_rev").map(|rev| rev as u64)).transpose()
    }

    /// Sets both key hashes, whatever they were, and moves the key generation on: the
    /// configuration names a board's key (the seeded demo's), or a board made without keys
    /// gets them. `false` if there is no such board.
    pub async fn set_keys(&self, board: &str, read_hash: &str, write_hash: &str) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE boards SET read_key_hash = $1, write_key_hash = $2, keys_rev = keys_rev + 1 WHERE id = $3",
        )
        .bind(read_hash)
        .bind(write_hash)
        .bind(board)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The bytes of change log the board keeps (`None`: no such board).
    pub async fn log_bytes(&self, board: &str) -> Result<Option<u64>, sqlx::Error> {
        let row =
            sqlx::query("SELECT log_bytes FROM boards WHERE id = $1").bind(board).fetch_optional(self.pool()).await?;
        row.map(|r| r.try_get::<i64, _>("log_bytes").map(|b| b as u64)).transpose()
    }

    /// The key generation alone: what open streams of a private board watch.
    pub async fn keys_rev(&self, board: &str) -> Result<Option<u64>, sqlx::Error> {
        let row =
            sqlx::query("SELECT keys_rev FROM boards WHERE id = $1").bind(board).fetch_optional(self.pool()).await?;
        row.map(|r| r.try_get::<i64, _>("keys_rev").map(|rev| rev as u64)).transpose()
    }

    /// The boards `/` may list: every public one, and the private ones among `private_ids`
    /// (the gate has already checked this browser's keys for them), newest first.
    pub async fn list_boards(&self, private_ids: &[String], limit: i64) -> Result<Vec<BoardSummary>, sqlx::Error> {
        let mut rows = sqlx::query(
            "SELECT id, name, seq, created_at FROM boards WHERE visibility = 'public' \
             ORDER BY created_at DESC, id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        // Bounded by the cookies a browser sends (a few kilobytes): one query each.
        for id in private_ids.iter().take(limit as usize) {
            if let Some(row) = sqlx::query("SELECT id, name, seq, created_at FROM boards WHERE id = $1")
                .bind(id)
                .fetch_optional(self.pool())
                .await?
            {
                rows.push(row);
            }
        }
        let mut boards = rows
            .iter()
            .map(|r| {
                Ok((
                    r.try_get::<i64, _>("created_at")?,
                    BoardSummary {
                        id: r.try_get("id")?,
                        name: r.try_get("name")?,
                        seq: r.try_get::<i64, _>("seq")? as u64,
                    },
                ))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        boards.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.id.cmp(&b.1.id)));
        boards.dedup_by(|a, b| a.1.id == b.1.id);
        Ok(boards.into_iter().take(limit as usize).map(|(_, board)| board).collect())
    }
}
