//! The fault lab, server side: faults a learner injects into one replica on purpose, to
//! watch the protocol recover from them.
//!
//! The protocol is built for a world where notices get lost or arrive late and the
//! database goes away for a while (see `broker`, `stream`, and the Idempotency-Key of
//! commands). Those failures are rare on a laptop, so the cluster demo can cause them:
//!
//! * **drop a board's next N change notices**: they never reach this replica's streams of
//!   that board. Each stream notices the hole at the next change (its seq skips one) or at
//!   the next heartbeat (the head is past what it sent), and repairs from the change log.
//! * **delay a board's change notices by D ms**: every change notice of the board reaches
//!   this replica's streams D ms late, still in order (see the delay line in
//!   `broker::memory`). Nothing breaks; the board just lags, and a tab's own answer arrives
//!   before its frame.
//! * **pause the database for S seconds**: the pool hands out no connection (the gate
//!   the `store` holds, `store::gate`). Requests that need the database wait; past the pool's acquire
//!   timeout (3 s, which counts the wait) they answer `503`, and clients retry commands
//!   with the same Idempotency-Key, which applies them once.
//!
//! Who may: nobody unless the replica runs with `FAULTS=1` (`--faults`; otherwise `403`).
//! Then a board's faults are its owner's (its write key, as for any administration: a
//! public board's visitors may edit its todos, not break its delivery for everyone), and
//! pausing the database, which stops every board of the replica, takes the replica's
//! `LAB_TOKEN` in the `X-Lab-Token` header (unset: nobody may) and is bounded: at most
//! [`MAX_PAUSE_S`] at a time, and a new pause no sooner than twice the last one's length
//! after it ended ([`Pauses`]), so the database is paused at most a third of the time.
//!
//! `Notice::Head` is never dropped or delayed on purpose: a head read from the database is
//! the repair. The faults act on the replica that receives `POST /api/lab` (`rest::lab`),
//! on its local fan-out, which both its own commits and what it hears from the other
//! replicas pass through: the lab is that fan-out's `broker::NoticeFilter`, the hook the
//! broker defines (so the broker knows nothing of the lab), as the database's gate is one
//! the store defines. A replica without `FAULTS=1` costs one load of a flag per notice.
//!
//! Every fault that acts is logged (`info`) and counted in `board_lab_faults_total` with
//! `fault` = `drop_notice` (per notice dropped), `delay_notice` (per notice delayed) or
//! `pause_database` (per connection request held back).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::time::Instant;

use board_core::api::{ServerFaults, ServerLab};

use crate::broker::NoticeFilter;
use crate::error::AppError;
use crate::store::Store;

/// At most this many notices may be set to be dropped at once.
pub const MAX_DROP_NOTICES: u32 = 1000;
/// The longest delay a notice may be given, in milliseconds (a minute).
pub const MAX_DELAY_MS: u32 = 60_000;
/// The longest pause of the database, in seconds.
pub const MAX_PAUSE_S: u32 = 30;
/// Boards with faults set at once on one replica; beyond, `429` (each is a map entry).
pub const MAX_BOARDS_WITH_FAULTS: usize = 1000;

/// This replica's faults. One per replica (`AppState::lab`), shared with the local fan-out
/// of its broker; [`Lab::off`] (the default) is one that nobody can turn on.
#[derive(Debug, Default)]
pub struct Lab {
    /// `FAULTS=1`: may faults be set at all?
    enabled: bool,
    /// The SHA-256 of `LAB_TOKEN`: what pausing the database takes. `None`: nobody may.
    token: Option<[u8; 32]>,
    /// Each board's faults, for boards that have any.
    boards: Mutex<HashMap<String, BoardFaults>>,
    /// When the database may be paused again.
    pauses: Mutex<Pauses>,
}

/// One board's faults.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct BoardFaults {
    /// Change notices still to be dropped.
    drops_left: u32,
    /// The delay of every change notice, in milliseconds (0: none).
    delay_ms: u32,
}

impl BoardFaults {
    fn none(&self) -> bool {
        *self == BoardFaults::default()
    }
}

/// The database's pauses, rationed: a new one may begin only once as long again as twice
/// the last has passed since it ended (lifting one is always allowed).
#[derive(Debug, Default)]
struct Pauses {
    next_allowed: Option<Instant>,
}

/// Who asks for faults: the board they own, if they presented its write key (checked by
/// the caller, the gate), and whether they presented the lab token.
#[derive(Debug, Default)]
pub struct Asker<'a> {
    pub owns: Option<&'a str>,
    pub token: Option<&'a str>,
}

impl Lab {
    /// The lab of a replica started with `FAULTS=1` (`enabled`) or without, and with
    /// `LAB_TOKEN` or without.
    pub fn new(enabled: bool, token: Option<&str>) -> Self {
        let token = token.map(|token| Sha256::digest(token.as_bytes()).into());
        Lab { enabled, token, ..Lab::default() }
    }

    /// A lab that is off: every notice passes as it is.
    pub fn off() -> Self {
        Lab::default()
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Sets the faults that `faults` names for `asker` (absent fields leave theirs as they
    /// are): `403` when this replica runs without `FAULTS=1`, or the asker does not own the
    /// board (notice faults) or lacks the lab token (a pause); `400` for notice faults
    /// without a board; `422` past a bound; `429` for a pause too soon after the last. A
    /// refusal changes nothing: every field is checked before any is applied.
    pub fn apply(&self, faults: &ServerFaults, asker: &Asker, store: &Store) -> Result<(), AppError> {
        if !self.enabled {
            return Err(AppError::Forbidden("fault injection is off on this replica: start it with FAULTS=1".into()));
        }
        let over = |name: &str, value: Option<u32>, max: u32, unit: &str| {
            value.filter(|value| *value > max).map(|value| format!("{name} is {value}; at most {max}{unit}"))
        };
        let refusals: Vec<String> = [
            over("drop_notices", faults.drop_notices, MAX_DROP_NOTICES, " notices"),
            over("delay_notices_ms", faults.delay_notices_ms, MAX_DELAY_MS, " ms"),
            over("pause_database_s", faults.pause_database_s, MAX_PAUSE_S, " s"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !refusals.is_empty() {
            return Err(AppError::Unprocessable(refusals.join("; ")));
        }
        let on_notices = faults.drop_notices.is_some() || faults.delay_notices_ms.is_some();
        let board = match (on_notices, asker.owns) {
            (false, _) => None,
            (true, Some(board)) => Some(board),
            (true, None) => {
                return Err(AppError::BadRequest("faults on change notices are a board's: name it, ?board=B".into()))
            }
        };
        if let Some(seconds) = faults.pause_database_s {
            self.may_pause(asker.token)?;
            let mut pauses = self.pauses.lock().expect("lab lock");
            let now = Instant::now();
            if seconds > 0 {
                if let Some(wait) =
                    pauses.next_allowed.map(|at| at.saturating_duration_since(now)).filter(|w| !w.is_zero())
                {
                    return Err(AppError::TooMany {
                        message: "the database was paused a moment ago; it may be paused at most a third of the time"
                            .into(),
                        retry_after: Some(wait),
                    });
                }
            }
            if board.is_some() && self.too_many_boards(board) {
                return Err(too_many_boards());
            }
            let length = Duration::from_secs(seconds.into());
            // The next pause no sooner than twice this one's length after it ends (lifting
            // it early does not shorten that).
            if seconds > 0 {
                pauses.next_allowed = Some(now + length * 3);
            }
            store.pause_database(length);
            tracing::info!(seconds, "fault lab: pausing the database");
        } else if self.too_many_boards(board) {
            return Err(too_many_boards());
        }
        if let Some(board) = board {
            let mut boards = self.boards.lock().expect("lab lock");
            let entry = boards.entry(board.to_owned()).or_default();
            if let Some(n) = faults.drop_notices {
                entry.drops_left = n;
                tracing::info!(%board, notices = n, "fault lab: dropping the board's next change notices");
            }
            if let Some(ms) = faults.delay_notices_ms {
                entry.delay_ms = ms;
                tracing::info!(%board, delay_ms = ms, "fault lab: delaying the board's change notices");
            }
            if entry.none() {
                boards.remove(board);
            }
        }
        Ok(())
    }

    /// `403` unless the lab token is set here and `token` is it. Hashes are compared, so
    /// the time a comparison takes says nothing about the token.
    fn may_pause(&self, token: Option<&str>) -> Result<(), AppError> {
        let Some(expected) = self.token else {
            return Err(AppError::Forbidden(
                "replica-wide faults are off on this replica: start it with LAB_TOKEN set".into(),
            ));
        };
        let presented: Option<[u8; 32]> = token.map(|token| Sha256::digest(token.as_bytes()).into());
        if presented != Some(expected) {
            return Err(AppError::Forbidden(
                "pausing the database needs this replica's lab token (X-Lab-Token)".into(),
            ));
        }
        Ok(())
    }

    /// Would faults for `board` add one board too many?
    fn too_many_boards(&self, board: Option<&str>) -> bool {
        let Some(board) = board else { return false };
        let boards = self.boards.lock().expect("lab lock");
        !boards.contains_key(board) && boards.len() >= MAX_BOARDS_WITH_FAULTS
    }

    /// What `GET /api/lab` answers: the faults in force on this replica now (the board's,
    /// when one is named).
    pub fn report(&self, replica: &str, board: Option<&str>, store: &Store) -> ServerLab {
        let faults = board.map(|board| self.faults_of(board)).unwrap_or_default();
        ServerLab {
            enabled: self.enabled,
            replica_faults: self.enabled && self.token.is_some(),
            replica: replica.to_owned(),
            drop_notices: faults.drops_left,
            delay_notices_ms: faults.delay_ms,
            database_paused_ms: store.database_paused_for().as_millis() as u64,
        }
    }

    fn faults_of(&self, board: &str) -> BoardFaults {
        self.boards.lock().expect("lab lock").get(board).copied().unwrap_or_default()
    }

    /// The board's change notices still to be dropped.
    pub fn drops_left(&self, board: &str) -> u32 {
        self.faults_of(board).drops_left
    }

    /// Should this change notice be dropped? Each `true` uses up one of the board's drops.
    fn drop_notice(&self, board: &str, seq: u64) -> bool {
        if !self.enabled {
            return false;
        }
        let mut boards = self.boards.lock().expect("lab lock");
        let Some(faults) = boards.get_mut(board).filter(|f| f.drops_left > 0) else { return false };
        faults.drops_left -= 1;
        let left = faults.drops_left;
        if faults.none() {
            boards.remove(board);
        }
        metrics::counter!("board_lab_faults_total", "fault" => "drop_notice").increment(1);
        tracing::info!(%board, seq, left, "fault lab: dropped a change notice");
        true
    }

    /// How long this change notice is held back (zero: not at all).
    fn notice_delay(&self, board: &str, seq: u64) -> Duration {
        if !self.enabled {
            return Duration::ZERO;
        }
        let ms = self.faults_of(board).delay_ms;
        if ms == 0 {
            return Duration::ZERO;
        }
        metrics::counter!("board_lab_faults_total", "fault" => "delay_notice").increment(1);
        tracing::info!(%board, seq, delay_ms = ms, "fault lab: delayed a change notice");
        Duration::from_millis(ms.into())
    }
}

/// The broker asks the lab about each change notice of a board followed here.
impl NoticeFilter for Lab {
    fn pass(&self, board: &str, seq: u64) -> Option<Duration> {
        (!self.drop_notice(board, seq)).then(|| self.notice_delay(board, seq))
    }
}

fn too_many_boards() -> AppError {
    AppError::TooMany {
        message: format!("at most {MAX_BOARDS_WITH_FAULTS} boards have faults at once on one replica"),
        retry_after: Some(Duration::from_secs(60)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_are_a_boards_and_used_up_one_notice_at_a_time() {
        let lab = Lab::new(true, None);
        lab.boards.lock().unwrap().insert("b".into(), BoardFaults { drops_left: 2, delay_ms: 0 });
        assert!(!lab.drop_notice("other", 1), "another board's notices pass");
        assert!(lab.drop_notice("b", 1));
        assert!(lab.drop_notice("b", 2));
        assert!(!lab.drop_notice("b", 3));
        assert_eq!(lab.drops_left("b"), 0);
        assert!(lab.boards.lock().unwrap().is_empty(), "a board without faults leaves the map");
        assert!(!Lab::off().drop_notice("b", 1), "a lab that is off drops nothing");
        assert_eq!(Lab::off().notice_delay("b", 1), Duration::ZERO);
    }

    #[test]
    fn as_the_brokers_filter_it_drops_then_delays() {
        let lab = Lab::new(true, None);
        lab.boards.lock().unwrap().insert("b".into(), BoardFaults { drops_left: 1, delay_ms: 250 });
        assert_eq!(lab.pass("b", 1), None, "the drop first");
        assert_eq!(lab.pass("b", 2), Some(Duration::from_millis(250)), "then the delay, which stays");
        assert_eq!(lab.pass("b", 3), Some(Duration::from_millis(250)));
        assert_eq!(lab.pass("other", 1), Some(Duration::ZERO), "another board's notices pass at once");
        assert_eq!(Lab::off().pass("b", 1), Some(Duration::ZERO));
    }
}
