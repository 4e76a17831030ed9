//! What the console shows ([`ClusterView`]): every replica's latest report and the
//! webhooks with a backlog, built at most once per [`BUILD_EVERY`] however many consoles
//! watch (the webhooks come from one query over the database all replicas share), and the
//! bound on how many consoles may watch one replica at once ([`WATCHING`]).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use board_core::console::{ClusterView, ReplicaReport, WebhookBacklog, LISTED_WEBHOOKS};

use crate::error::AppError;
use crate::store::Store;

/// How old a view may be when a console is shown it.
pub const BUILD_EVERY: Duration = Duration::from_secs(1);
/// How many console streams one replica serves at once (operators are few; each stream
/// is a view a second).
pub const WATCHING: usize = 8;

pub struct Views {
    /// The last view built, and when. The async lock is held while one is built, so
    /// consoles that ask together wait for one query.
    built: Mutex<Option<(Instant, Arc<ClusterView>)>>,
    watching: Arc<Semaphore>,
}

impl Default for Views {
    fn default() -> Self {
        Views { built: Mutex::new(None), watching: Arc::new(Semaphore::new(WATCHING)) }
    }
}

impl Views {
    /// The view now (at most [`BUILD_EVERY`] old): this replica is `here`; `replicas` are
    /// the reports it holds (asked only when a view is built).
    pub async fn now(
        &self,
        store: &Store,
        here: &str,
        replicas: impl FnOnce() -> Vec<ReplicaReport>,
    ) -> Result<Arc<ClusterView>, AppError> {
        let mut built = self.built.lock().await;
        if let Some((at, view)) = built.as_ref() {
            if at.elapsed() < BUILD_EVERY {
                return Ok(view.clone());
            }
        }
        let webhooks = store
            .webhook_backlogs(LISTED_WEBHOOKS as i64)
            .await?
            .into_iter()
            .map(|(row, backlog)| WebhookBacklog {
                id: row.id,
                board: row.board,
                url: row.url,
                status: row.status.as_str().to_owned(),
                backlog,
                failures: row.failures,
                last_error: row.last_error,
            })
            .collect();
        let view =
            Arc::new(ClusterView { at: crate::store::now_ms(), here: here.to_owned(), replicas: replicas(), webhooks });
        *built = Some((Instant::now(), view.clone()));
        Ok(view)
    }

    /// One of the [`WATCHING`] console streams, held while it lives; `429` when all are
    /// taken.
    pub fn watch(&self) -> Result<OwnedSemaphorePermit, AppError> {
        self.watching.clone().try_acquire_owned().map_err(|_| AppError::TooMany {
            message: format!("at most {WATCHING} consoles watch one replica at once"),
            retry_after: Some(Duration::from_secs(5)),
        })
    }

    /// Forgets the last view (an action changed what it shows).
    pub async fn stale(&self) {
        *self.built.lock().await = None;
    }
}
