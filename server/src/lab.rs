//! The fault lab, server side: faults a learner injects into one replica on purpose, to
//! watch the protocol recover from them.
//!
//! The protocol is built for a world where notices get lost or arrive late and the
//! database goes away for a while (see `broker`, `stream`, and the Idempotency-Key of
//! commands). Those failures are rare on a laptop, so the cluster demo can cause them:
//!
//! * **drop the next N change notices**: they never reach this replica's streams. Each
//!   stream notices the hole at the next change (its seq skips one) or at the next
//!   heartbeat (the head is past what it sent), and repairs from the change log.
//! * **delay change notices by D ms**: every change notice reaches this replica's streams
//!   D ms late, still in order (see the delay line in `broker::memory`). Nothing breaks;
//!   the board just lags, and a tab's own answer arrives before its frame.
//! * **pause the database for S seconds**: the pool hands out no connection (the [`Gate`]
//!   the `store` holds). Requests that need the database wait; past the pool's acquire
//!   timeout (3 s, which counts the wait) they answer `503`, and clients retry commands
//!   with the same Idempotency-Key, which applies them once.
//!
//! `Notice::Head` is never dropped or delayed on purpose: a head read from the database is
//! the repair. The faults act on the replica that receives `POST /api/lab` (`rest::lab`),
//! on its local fan-out, which both its own commits and what it hears from the other
//! replicas pass through. Off unless the replica runs with `FAULTS=1` (`--faults`): a
//! replica without it refuses them with `403`, and then all this costs is two atomic loads
//! per notice and one per database connection handed out.
//!
//! Every fault that acts is logged (`info`) and counted in `board_lab_faults_total` with
//! `fault` = `drop_notice` (per notice dropped), `delay_notice` (per notice delayed) or
//! `pause_database` (per connection request held back).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use app::api::{ServerFaults, ServerLab};

use crate::error::AppError;
use crate::store::Store;

/// At most this many notices may be set to be dropped at once.
pub const MAX_DROP_NOTICES: u32 = 1000;
/// The longest delay a notice may be given, in milliseconds (a minute).
pub const MAX_DELAY_MS: u32 = 60_000;
/// The longest pause of the database, in seconds.
pub const MAX_PAUSE_S: u32 = 60;

/// This replica's faults. One per replica (`AppState::lab`), shared with the local fan-out
/// of its broker; [`Lab::off`] (the default) is one that nobody can turn on.
#[derive(Debug, Default)]
pub struct Lab {
    /// `FAULTS=1`: may faults be set at all?
    enabled: bool,
    /// Change notices still to be dropped.
    drops_left: AtomicU32,
    /// The delay of every change notice, in milliseconds (0: none).
    delay_ms: AtomicU32,
}

impl Lab {
    /// The lab of a replica started with `FAULTS=1` (`enabled`) or without.
    pub fn new(enabled: bool) -> Self {
        Lab { enabled, ..Lab::default() }
    }

    /// A lab that is off: every notice passes as it is.
    pub fn off() -> Self {
        Lab::default()
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Sets the faults that `faults` names (absent fields leave theirs as they are): `403`
    /// when this replica runs without `FAULTS=1`, `422` past a bound. Either way a refusal
    /// changes nothing, so every field is checked before any is applied.
    pub fn apply(&self, faults: &ServerFaults, store: &Store) -> Result<(), AppError> {
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
        if let Some(n) = faults.drop_notices {
            self.drop_next(n);
            tracing::info!(notices = n, "fault lab: dropping the next change notices");
        }
        if let Some(ms) = faults.delay_notices_ms {
            self.delay_notices(ms);
            tracing::info!(delay_ms = ms, "fault lab: delaying change notices");
        }
        if let Some(s) = faults.pause_database_s {
            store.pause_database(Duration::from_secs(s.into()));
            tracing::info!(seconds = s, "fault lab: pausing the database");
        }
        Ok(())
    }

    /// What `GET /api/lab` answers: the faults in force on this replica now.
    pub fn report(&self, replica: &str, store: &Store) -> ServerLab {
        ServerLab {
            enabled: self.enabled,
            replica: replica.to_owned(),
            drop_notices: self.drops_left(),
            delay_notices_ms: self.delay_ms.load(Ordering::SeqCst),
            database_paused_ms: store.database_paused_for().as_millis() as u64,
        }
    }

    /// Change notices still to be dropped.
    pub fn drops_left(&self) -> u32 {
        self.drops_left.load(Ordering::SeqCst)
    }

    /// Drops the next `n` change notices (0: none), whatever was left of the last count.
    pub(crate) fn drop_next(&self, n: u32) {
        self.drops_left.store(n, Ordering::SeqCst);
    }

    /// Delays every change notice by `ms` milliseconds from now on (0: no delay).
    pub(crate) fn delay_notices(&self, ms: u32) {
        self.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// Should this change notice be dropped? Each `true` uses up one of the drops set.
    pub fn drop_notice(&self, board: &str, seq: u64) -> bool {
        let Ok(before) = self.drops_left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)) else {
            return false;
        };
        metrics::counter!("board_lab_faults_total", "fault" => "drop_notice").increment(1);
        tracing::info!(%board, seq, left = before - 1, "fault lab: dropped a change notice");
        true
    }

    /// How long this change notice is held back (zero: not at all).
    pub fn notice_delay(&self, board: &str, seq: u64) -> Duration {
        let ms = self.delay_ms.load(Ordering::SeqCst);
        if ms == 0 {
            return Duration::ZERO;
        }
        metrics::counter!("board_lab_faults_total", "fault" => "delay_notice").increment(1);
        tracing::info!(%board, seq, delay_ms = ms, "fault lab: delayed a change notice");
        Duration::from_millis(ms.into())
    }
}

/// The database's gate: while it is closed, the store's pool hands out no connection
/// (the pool awaits [`Gate::pass`] before it hands out an idle connection and after it
/// opens a new one). A `watch` of the instant it opens again, so that waiters wake when a
/// pause is lifted or changed, not only when it runs out.
#[derive(Debug)]
pub struct Gate {
    until: watch::Sender<Option<Instant>>,
}

impl Default for Gate {
    fn default() -> Self {
        Gate { until: watch::Sender::new(None) }
    }
}

impl Gate {
    /// Closes the gate for `duration` from now, replacing any pause in force; zero opens it.
    pub fn pause(&self, duration: Duration) {
        self.until.send_replace((!duration.is_zero()).then(|| Instant::now() + duration));
    }

    /// How much longer the gate stays closed (zero: it is open).
    pub fn paused_for(&self) -> Duration {
        self.until.borrow().map_or(Duration::ZERO, |until| until.saturating_duration_since(Instant::now()))
    }

    /// Completes once the gate is open: at once when it is, else when the pause ends or
    /// is lifted. Dropping the future (the pool's acquire timeout does) stops the wait.
    pub async fn pass(&self) {
        let paused_for = self.paused_for();
        if paused_for.is_zero() {
            return;
        }
        metrics::counter!("board_lab_faults_total", "fault" => "pause_database").increment(1);
        tracing::info!(paused_ms = paused_for.as_millis() as u64, "fault lab: a database connection waits");
        let mut changes = self.until.subscribe();
        loop {
            let until = *changes.borrow_and_update();
            let Some(until) = until.filter(|until| *until > Instant::now()) else { return };
            tokio::select! {
                () = tokio::time::sleep_until(until) => {}
                // Paused again, for longer or shorter, or resumed: look again.
                _ = changes.changed() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_are_used_up_one_notice_at_a_time() {
        let lab = Lab::new(true);
        lab.drop_next(2);
        assert!(lab.drop_notice("b", 1));
        assert!(lab.drop_notice("b", 2));
        assert!(!lab.drop_notice("b", 3));
        assert_eq!(lab.drops_left(), 0);
        assert!(!Lab::off().drop_notice("b", 1), "a lab that is off drops nothing");
        assert_eq!(Lab::off().notice_delay("b", 1), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn the_gate_holds_until_the_pause_ends_or_is_lifted() {
        let gate = std::sync::Arc::new(Gate::default());
        // Open: passes at once.
        let started = Instant::now();
        gate.pass().await;
        assert_eq!(started.elapsed(), Duration::ZERO);

        gate.pause(Duration::from_secs(2));
        assert_eq!(gate.paused_for(), Duration::from_secs(2));
        gate.pass().await;
        // (The paused clock's timers tick in whole milliseconds.)
        let waited = started.elapsed();
        assert!(waited >= Duration::from_secs(2) && waited < Duration::from_millis(2002), "waited {waited:?}");
        assert_eq!(gate.paused_for(), Duration::ZERO);

        // Lifted early: the waiter goes on at once.
        gate.pause(Duration::from_secs(60));
        let waiter = tokio::spawn({
            let gate = gate.clone();
            async move { gate.pass().await }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!waiter.is_finished());
        let lifted = Instant::now();
        gate.pause(Duration::ZERO);
        waiter.await.unwrap();
        assert_eq!(lifted.elapsed(), Duration::ZERO);
    }
}
