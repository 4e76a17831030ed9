//! One replica's report about itself ([`ReplicaReport`]): its open streams, its busiest
//! boards, the counters that say consumers are slow or cut and limits are being hit (read
//! from its own metrics, as Prometheus would), and its newest errors.
//!
//! Bounded by construction: every list has a cap (`board_core::console`), and the whole
//! report is trimmed until its JSON fits [`REPORT_BYTES`], so it crosses every bus
//! (Postgres `NOTIFY` carries 8000 bytes at most, with the envelope around it).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use board_core::console::{BoardLoad, ReplicaReport, Vital, REPORTED_BOARDS, REPORTED_CONNECTIONS};

use super::connections::Connections;

/// The largest report, in bytes of JSON.
pub const REPORT_BYTES: usize = 6_000;
/// The most counters a report carries.
pub const REPORTED_VITALS: usize = 24;
/// The most boards whose writes are counted in one interval (a replica can be asked to
/// commit to any number of boards: beyond this many, the rest are not named).
pub const COUNTED_BOARDS: usize = 1024;

/// The counters the console shows: consumers slow, dead or cut, streams ended or reset,
/// and every refusal by a limit.
pub const VITALS: &[&str] = &[
    "board_slow_consumers_total",
    "board_ws_dead_peers_total",
    "board_connections_closed_total",
    "board_streams_ended_total",
    "board_stream_resets_total",
    "board_limited_total",
    "board_connections_refused_total",
    "board_cross_origin_refused_total",
    "board_bus_publish_failed_total",
    "board_bus_disconnects_total",
];

/// What a report needs to remember between two: the writes counted since the last one,
/// and the counters as they were then (for the per-minute figures).
#[derive(Default)]
pub struct Reporter {
    writes: Mutex<HashMap<String, u64>>,
    last: Mutex<Option<(Instant, HashMap<String, u64>)>>,
}

impl Reporter {
    /// A change committed on `board` here.
    pub fn wrote(&self, board: &str) {
        let mut writes = self.writes.lock().expect("writes");
        if let Some(n) = writes.get_mut(board) {
            *n += 1;
        } else if writes.len() < COUNTED_BOARDS {
            writes.insert(board.to_owned(), 1);
        }
    }

    /// This replica's report now. `metrics`: its metrics as Prometheus text.
    pub fn report(
        &self,
        replica: &str,
        bus: &str,
        connections: &Connections,
        metrics: &str,
        errors: Vec<board_core::console::RecentError>,
    ) -> ReplicaReport {
        let now = Instant::now();
        let totals = counters(metrics);
        let writes = std::mem::take(&mut *self.writes.lock().expect("writes"));
        let (elapsed, before) = match self.last.lock().expect("last report").replace((now, totals.clone())) {
            Some((then, before)) => (now - then, before),
            None => (Duration::ZERO, HashMap::new()),
        };
        let per_minute = |now: u64, then: u64| match elapsed.as_millis() {
            0 => 0,
            ms => (now.saturating_sub(then) as u128 * 60_000 / ms) as u64,
        };
        let listing = connections.newest(REPORTED_CONNECTIONS);
        let mut vitals: Vec<Vital> = totals
            .iter()
            .filter(|(_, total)| **total > 0)
            .map(|(series, total)| {
                let (metric, labels) = match series.split_once('{') {
                    Some((metric, labels)) => (metric, labels.trim_end_matches('}')),
                    None => (series.as_str(), ""),
                };
                Vital {
                    metric: metric.to_owned(),
                    labels: labels.to_owned(),
                    total: *total,
                    per_minute: per_minute(*total, before.get(series).copied().unwrap_or(0)),
                }
            })
            .collect();
        vitals.sort_by_key(|v| std::cmp::Reverse((v.per_minute, v.total)));
        vitals.truncate(REPORTED_VITALS);
        let mut report = ReplicaReport {
            replica: replica.to_owned(),
            at: crate::store::now_ms(),
            bus: bus.to_owned(),
            streams: listing.total,
            by_way: listing.by_way,
            boards: busiest(&listing.by_board, &writes, |n| per_minute(n, 0)),
            connections: listing.connections,
            vitals,
            errors,
        };
        fit(&mut report);
        report
    }
}

/// The busiest boards: the most followed and the most written, merged, at most
/// `REPORTED_BOARDS`.
fn busiest(
    followers: &BTreeMap<String, usize>,
    writes: &HashMap<String, u64>,
    rate: impl Fn(u64) -> u64,
) -> Vec<BoardLoad> {
    let mut boards: HashMap<&str, BoardLoad> = HashMap::new();
    let load = |board: &str| BoardLoad {
        board: board.to_owned(),
        followers: followers.get(board).copied().unwrap_or(0),
        writes_per_minute: writes.get(board).map_or(0, |n| rate(*n)),
    };
    let mut by_followers: Vec<(&String, &usize)> = followers.iter().collect();
    by_followers.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let mut by_writes: Vec<(&String, &u64)> = writes.iter().collect();
    by_writes.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (board, _) in by_followers.into_iter().take(REPORTED_BOARDS) {
        boards.insert(board, load(board));
    }
    for (board, _) in by_writes.into_iter().take(REPORTED_BOARDS) {
        boards.entry(board).or_insert_with(|| load(board));
    }
    let mut boards: Vec<BoardLoad> = boards.into_values().collect();
    boards.sort_by(|a, b| {
        (b.followers as u64 + b.writes_per_minute, &a.board).cmp(&(a.followers as u64 + a.writes_per_minute, &b.board))
    });
    boards.truncate(REPORTED_BOARDS);
    boards
}

/// Trims the report until its JSON fits [`REPORT_BYTES`]: first the streams it names,
/// then its errors, its counters and its boards (the counts of everything stay).
fn fit(report: &mut ReplicaReport) {
    while serde_json::to_vec(report).map_or(0, |json| json.len()) > REPORT_BYTES {
        if report.connections.pop().is_none()
            && report.errors.pop().is_none()
            && report.vitals.pop().is_none()
            && report.boards.pop().is_none()
        {
            return;
        }
    }
}

/// The [`VITALS`] counters in Prometheus text: `series → value`, where a series is the name
/// with its labels as written (`board_limited_total{limit="commands"}`).
pub fn counters(text: &str) -> HashMap<String, u64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .filter(|(series, _)| VITALS.contains(&series.split('{').next().unwrap_or(series)))
        .filter_map(|(series, value)| Some((series.to_owned(), value.parse::<f64>().ok()? as u64)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use board_core::console::{RecentError, ERROR_BYTES};
    use board_core::patterns::PatternKind;
    use board_core::protocol::Transport;

    #[test]
    fn counters_are_read_from_prometheus_text_with_their_labels() {
        let text = "# HELP board_limited_total x\n# TYPE board_limited_total counter\n\
                    board_limited_total{limit=\"commands\"} 3\nboard_ws_dead_peers_total 2\n\
                    board_commands_total{outcome=\"ok\"} 99\n";
        let read = counters(text);
        assert_eq!(read.len(), 2, "only the console's counters: {read:?}");
        assert_eq!(read["board_limited_total{limit=\"commands\"}"], 3);
        assert_eq!(read["board_ws_dead_peers_total"], 2);
    }

    #[test]
    fn a_report_rates_what_changed_since_the_last_and_names_the_busiest_boards() {
        let reporter = Reporter::default();
        let connections = std::sync::Arc::new(Connections::default());
        let _held: Vec<_> = (0..3)
            .map(|n| {
                connections.register(if n == 0 { "quiet" } else { "busy" }, Transport::Ws, PatternKind::PushOps, None)
            })
            .collect();
        let first = reporter.report("r1", "redis", &connections, "board_limited_total{limit=\"commands\"} 3\n", vec![]);
        assert_eq!(first.vitals[0].per_minute, 0, "nothing to compare with yet");
        for _ in 0..5 {
            reporter.wrote("written");
        }
        std::thread::sleep(Duration::from_millis(50));
        let second =
            reporter.report("r1", "redis", &connections, "board_limited_total{limit=\"commands\"} 13\n", vec![]);
        assert_eq!(second.streams, 3);
        assert_eq!(second.by_way["ws/push-ops"], 3);
        assert!(second.vitals[0].per_minute > 0 && second.vitals[0].total == 13);
        assert_eq!(second.vitals[0].labels, "limit=\"commands\"");
        let names: Vec<&str> = second.boards.iter().map(|b| b.board.as_str()).collect();
        assert!(names.contains(&"busy") && names.contains(&"quiet") && names.contains(&"written"), "{names:?}");
        let written = second.boards.iter().find(|b| b.board == "written").unwrap();
        assert!(written.writes_per_minute >= 5, "5 writes in well under a minute");
        let third = reporter.report("r1", "redis", &connections, "", vec![]);
        assert!(third.boards.iter().all(|b| b.board != "written"), "a window's writes are counted once");
    }

    #[test]
    fn the_largest_report_fits_the_smallest_bus() {
        let reporter = Reporter::default();
        let connections = std::sync::Arc::new(Connections::default());
        let long = |prefix: &str, n: usize| format!("{prefix}-{}-{n}", "x".repeat(60));
        let _held: Vec<_> = (0..500)
            .map(|n| {
                connections.register(
                    &long("board", n),
                    Transport::LongPoll,
                    PatternKind::EventDiff,
                    Some((long("client", n), "ñ".repeat(40))),
                )
            })
            .collect();
        for n in 0..COUNTED_BOARDS + 10 {
            reporter.wrote(&long("written", n));
        }
        let metrics: String =
            VITALS.iter().flat_map(|name| (0..10).map(move |n| format!("{name}{{reason=\"r{n}\"}} {n}\n"))).collect();
        let errors = (0..5)
            .map(|n| RecentError {
                at: n,
                level: "ERROR".into(),
                target: long("t", 0),
                message: "é".repeat(ERROR_BYTES / 2),
            })
            .collect();
        let report = reporter.report(&long("replica", 0), "postgresql", &connections, &metrics, errors);
        let json = serde_json::to_vec(&report).unwrap();
        assert!(json.len() <= REPORT_BYTES, "{} bytes", json.len());
        assert_eq!(report.streams, 500, "the counts stay whole");
        assert!(!report.connections.is_empty(), "the newest streams are still named");
        assert!(reporter.writes.lock().unwrap().is_empty());
    }
}
