//! The warnings and errors this process logged lately, for the console: a `tracing` layer
//! ([`Keep`]) that keeps the newest [`KEPT`] of them in a ring, whatever else the log does
//! with them. The binary installs it beside the formatter (`main.rs`); a test that builds
//! servers in its own process without it sees an empty list.
//!
//! Bounded by construction: [`KEPT`] entries of at most `ERROR_BYTES` each. The ring is the
//! process's (a `tracing` subscriber is), which is a replica's.

use std::collections::VecDeque;
use std::fmt::Write;
use std::sync::Mutex;

use board_core::console::{RecentError, ERROR_BYTES, REPORTED_ERRORS};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;

/// How many the ring keeps (a report carries the newest `REPORTED_ERRORS`).
pub const KEPT: usize = 32;

static RECENT: Mutex<VecDeque<RecentError>> = Mutex::new(VecDeque::new());

/// The newest `REPORTED_ERRORS`, newest first.
pub fn newest() -> Vec<RecentError> {
    RECENT.lock().expect("recent errors").iter().rev().take(REPORTED_ERRORS).cloned().collect()
}

/// The layer: every `WARN` and `ERROR` event, its message and fields as one line.
pub struct Keep;

impl<S: Subscriber> tracing_subscriber::Layer<S> for Keep {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let level = *event.metadata().level();
        if level > Level::WARN {
            return;
        }
        let mut line = Line(String::new());
        event.record(&mut line);
        let mut message = line.0;
        if message.len() > ERROR_BYTES {
            let mut cut = ERROR_BYTES;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        let at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        let error = RecentError { at, level: level.to_string(), target: event.metadata().target().to_owned(), message };
        let mut recent = RECENT.lock().expect("recent errors");
        if recent.len() == KEPT {
            recent.pop_front();
        }
        recent.push_back(error);
    }
}

/// An event's message, then its fields as `name=value`.
struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if self.0.len() > ERROR_BYTES {
            return;
        }
        let gap = if self.0.is_empty() { "" } else { " " };
        let _ = match field.name() {
            "message" => write!(self.0, "{gap}{value:?}"),
            name => write!(self.0, "{gap}{name}={value:?}"),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn warnings_and_errors_are_kept_newest_first_and_bounded() {
        let subscriber = tracing_subscriber::registry().with(Keep);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("not kept");
            for n in 0..KEPT + 3 {
                tracing::warn!(n, "warned");
            }
            tracing::error!(board = "b1", "{}", "x".repeat(1000));
        });
        let newest = newest();
        assert_eq!(newest.len(), REPORTED_ERRORS);
        assert_eq!(newest[0].level, "ERROR");
        assert!(newest[0].message.len() <= ERROR_BYTES + '…'.len_utf8());
        assert_eq!(newest[1].message, format!("warned n={}", KEPT + 2));
        assert_eq!(RECENT.lock().unwrap().len(), KEPT);
    }
}
