//! The cluster as one replica hears it: every replica reports itself every
//! [`REPORT_EVERY`] on the bus's cluster channel (`broker::CLUSTER`, which every replica
//! follows while it is connected), and keeps the latest report of each ([`Cluster`]); the
//! console of any replica shows them all. A replica that stops reporting is forgotten after
//! [`FORGET_AFTER`].
//!
//! The console's actions travel the same channel: a disconnect names its replica, which
//! alone acts on it; ending a board's streams is done by every replica. Like everything
//! ephemeral on the bus they are at most once: the console shows the result in the next
//! reports (the stream gone from the list), not an acknowledgement.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use board_core::console::{ClusterView, ReplicaReport};

use super::connections::Connections;
use super::report::Reporter;
use crate::broker::{Broker, CLUSTER};
use crate::error::AppError;
use crate::store::Store;

/// How often each replica reports itself.
pub const REPORT_EVERY: Duration = Duration::from_secs(2);
/// A replica not heard from for this long is no longer shown.
pub const FORGET_AFTER: Duration = Duration::from_secs(7);
/// The most replicas kept (a bus anyone can publish on could name any number).
pub const MAX_REPLICAS: usize = 64;

/// What replicas say to each other on the cluster channel.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Said {
    /// A replica's report about itself.
    Report(Box<ReplicaReport>),
    /// The operator ended stream `id` of `replica`.
    Disconnect { replica: String, id: u64 },
    /// The operator ended every stream of `board`, on every replica.
    EndBoard { board: String },
}

/// The latest reports, this replica's own among them, and what makes the next one.
pub struct Cluster {
    replica: Arc<str>,
    /// The bus's name (`memory` alone), which each report carries.
    bus: &'static str,
    /// This replica's streams: what reports list and actions end.
    connections: Arc<Connections>,
    /// Writes and counters between two of this replica's reports.
    reporter: Reporter,
    /// By replica: when its latest report came, and the report.
    reports: Mutex<HashMap<String, (Instant, ReplicaReport)>>,
    /// What the consoles watching this replica are shown.
    pub views: super::view::Views,
}

impl Cluster {
    pub fn new(replica: Arc<str>, bus: &'static str, connections: Arc<Connections>) -> Cluster {
        Cluster {
            replica,
            bus,
            connections,
            reporter: Reporter::default(),
            reports: Mutex::default(),
            views: Default::default(),
        }
    }

    /// A change committed on `board` here (its write rate).
    pub fn wrote(&self, board: &str) {
        self.reporter.wrote(board);
    }

    /// Every replica heard from within [`FORGET_AFTER`], this one first, then by id.
    pub fn replicas(&self) -> Vec<ReplicaReport> {
        let mut reports = self.reports.lock().expect("reports");
        reports.retain(|_, (heard, _)| heard.elapsed() < FORGET_AFTER);
        let mut replicas: Vec<ReplicaReport> = reports.values().map(|(_, report)| report.clone()).collect();
        replicas
            .sort_by(|a, b| (*a.replica != *self.replica, &a.replica).cmp(&(*b.replica != *self.replica, &b.replica)));
        replicas
    }

    fn keep(&self, report: ReplicaReport) {
        let mut reports = self.reports.lock().expect("reports");
        if reports.len() >= MAX_REPLICAS && !reports.contains_key(&report.replica) {
            reports.retain(|_, (heard, _)| heard.elapsed() < FORGET_AFTER);
            if reports.len() >= MAX_REPLICAS {
                return;
            }
        }
        reports.insert(report.replica.clone(), (Instant::now(), report));
    }

    /// Another replica said something on the cluster channel.
    pub fn heard(&self, replica: &str, message: serde_json::Value) {
        match serde_json::from_value::<Said>(message) {
            Ok(Said::Report(report)) if report.replica == replica => self.keep(*report),
            Ok(Said::Report(_)) => tracing::warn!(%replica, "ignoring a report about another replica"),
            Ok(Said::Disconnect { replica: to, id }) if *to == *self.replica => {
                if self.connections.disconnect(id) {
                    metrics::counter!("board_streams_ended_total", "by" => "operator").increment(1);
                }
            }
            Ok(Said::Disconnect { .. }) => {}
            Ok(Said::EndBoard { board }) => {
                let ended = self.connections.end_board(&board);
                metrics::counter!("board_streams_ended_total", "by" => "operator").increment(ended as u64);
            }
            Err(err) => tracing::warn!(%replica, error = %err, "ignoring a cluster message that does not parse"),
        }
    }

    /// Ends stream `id` of `replica`: here at once (`Some(found)`), elsewhere by telling
    /// the others (`None`: whether it was found shows in the next reports).
    pub async fn disconnect(&self, broker: &dyn Broker, replica: &str, id: u64) -> Option<bool> {
        if *replica == *self.replica {
            let found = self.connections.disconnect(id);
            if found {
                metrics::counter!("board_streams_ended_total", "by" => "operator").increment(1);
            }
            return Some(found);
        }
        let said = Said::Disconnect { replica: replica.to_owned(), id };
        broker.publish_ephemeral(CLUSTER, serde_json::to_value(said).expect("a message serialises")).await;
        None
    }

    /// Ends every stream of `board`, here (how many) and on the other replicas.
    pub async fn end_board(&self, broker: &dyn Broker, board: &str) -> usize {
        let ended = self.connections.end_board(board);
        metrics::counter!("board_streams_ended_total", "by" => "operator").increment(ended as u64);
        let said = Said::EndBoard { board: board.to_owned() };
        broker.publish_ephemeral(CLUSTER, serde_json::to_value(said).expect("a message serialises")).await;
        ended
    }

    /// Is there anyone else to tell?
    pub fn has_others(&self) -> bool {
        self.bus != "memory"
    }

    /// Makes this replica's report (`metrics`: its Prometheus text), keeps it, and tells
    /// the others. The server calls it every [`REPORT_EVERY`].
    pub async fn report(&self, broker: &dyn Broker, metrics: &str) {
        let report = self.reporter.report(&self.replica, self.bus, &self.connections, metrics, super::errors::newest());
        self.keep(report.clone());
        if self.has_others() {
            let said = Said::Report(Box::new(report));
            broker.publish_ephemeral(CLUSTER, serde_json::to_value(said).expect("a report serialises")).await;
        }
    }

    /// What a console is shown now (see [`super::view`]).
    pub async fn view(&self, store: &Store) -> Result<Arc<ClusterView>, AppError> {
        self.views.now(store, &self.replica, || self.replicas()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use board_core::patterns::PatternKind;
    use board_core::protocol::Transport;

    fn report(replica: &str) -> serde_json::Value {
        let report = ReplicaReport {
            replica: replica.into(),
            at: 0,
            bus: "redis".into(),
            streams: 0,
            by_way: Default::default(),
            boards: vec![],
            connections: vec![],
            vitals: vec![],
            errors: vec![],
        };
        serde_json::to_value(Said::Report(Box::new(report))).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn reports_are_kept_until_they_stop_and_actions_reach_their_replica() {
        let connections = Arc::new(Connections::default());
        let cluster = Cluster::new("r1".into(), "redis", connections.clone());
        cluster.heard("r2", report("r2"));
        cluster.heard("r3", report("r2"));
        assert_eq!(cluster.replicas().len(), 1, "a replica reports only itself");
        tokio::time::advance(FORGET_AFTER).await;
        assert!(cluster.replicas().is_empty(), "a silent replica is forgotten");

        let (_held, token) = connections.register("b", Transport::Sse, PatternKind::PushOps, None);
        let (_other, board_token) = connections.register("c", Transport::Ws, PatternKind::PushOps, None);
        let id = connections.list().connections[0].id;
        cluster.heard("r2", serde_json::json!({"disconnect": {"replica": "r9", "id": id}}));
        assert!(!token.is_cancelled(), "another replica's stream is not ended here");
        cluster.heard("r2", serde_json::json!({"disconnect": {"replica": "r1", "id": id}}));
        assert!(token.is_cancelled());
        cluster.heard("r2", serde_json::json!({"end_board": {"board": "c"}}));
        assert!(board_token.is_cancelled());
        cluster.heard("r2", serde_json::json!({"something": "else"}));
    }

    #[test]
    fn no_more_than_max_replicas_are_kept() {
        let cluster = Cluster::new("r1".into(), "redis", Arc::default());
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        runtime.block_on(async {
            for n in 0..MAX_REPLICAS + 5 {
                cluster.heard(&format!("r{n}"), report(&format!("r{n}")));
            }
            assert_eq!(cluster.replicas().len(), MAX_REPLICAS);
        });
    }
}
