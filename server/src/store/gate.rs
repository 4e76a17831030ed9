//! The database's pause, which the fault lab closes (`POST /api/lab`, "pause the
//! database"): the pool waits at this gate before it hands out a connection. It lives with
//! the pool it holds back; the lab only asks the store to pause ([`super::Store::pause_database`]).

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

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
