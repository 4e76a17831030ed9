//! The open streams of this replica, as the operator's console lists them: each SSE,
//! WebSocket or held long-poll connection registers while it lives (`transports`), with
//! what it reads and how, and can be ended from the console, alone or with every other
//! stream of its board. A poll holds nothing open and is not listed.
//!
//! Bounded: one entry per open stream (which `MAX_CONNECTIONS` bounds), and a listing
//! returns at most [`LISTED`] of them, the oldest first, with the counts of all.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

pub use board_core::console::Connection;
use board_core::patterns::PatternKind;
use board_core::protocol::Transport;

/// The most connections one listing names.
pub const LISTED: usize = 500;

/// What a listing says.
#[derive(Clone, Debug, Serialize)]
pub struct Listing {
    /// Open streams by `transport/pattern`, all of them.
    pub by_way: BTreeMap<String, usize>,
    /// Open streams by board, all of them.
    pub by_board: BTreeMap<String, usize>,
    /// At most [`LISTED`], the oldest first.
    pub connections: Vec<Connection>,
    /// How many there are in all.
    pub total: usize,
}

/// The registry.
#[derive(Default)]
pub struct Connections {
    next: AtomicU64,
    open: Mutex<HashMap<u64, (Connection, CancellationToken)>>,
}

/// A registered stream: it leaves the registry when dropped.
pub struct Registered {
    id: u64,
    registry: Arc<Connections>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.registry.open.lock().expect("connections").remove(&self.id);
    }
}

impl Connections {
    /// Registers a stream; the token is cancelled when the console ends it.
    pub fn register(
        self: &Arc<Self>,
        board: &str,
        transport: Transport,
        pattern: PatternKind,
        client: Option<(String, String)>,
    ) -> (Registered, CancellationToken) {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let token = CancellationToken::new();
        let (client, name) = client.map_or((None, None), |(client, name)| (Some(client), Some(name)));
        let opened =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        let connection = Connection { id, board: board.to_owned(), transport, pattern, client, name, opened };
        self.open.lock().expect("connections").insert(id, (connection, token.clone()));
        (Registered { id, registry: self.clone() }, token)
    }

    /// Ends stream `id`; `false` if it is not open here.
    pub fn disconnect(&self, id: u64) -> bool {
        let open = self.open.lock().expect("connections");
        open.get(&id).map(|(_, token)| token.cancel()).is_some()
    }

    /// Ends every stream of `board` here; how many.
    pub fn end_board(&self, board: &str) -> usize {
        let open = self.open.lock().expect("connections");
        open.values().filter(|(c, _)| c.board == board).map(|(_, token)| token.cancel()).count()
    }

    /// The newest `n` streams, newest first, and how many there are by way and by board:
    /// what this replica's report to the console says.
    pub fn newest(&self, n: usize) -> Listing {
        let mut listing = self.listing(|connections| {
            connections.sort_by_key(|c| std::cmp::Reverse(c.id));
            connections.truncate(n);
        });
        listing.connections.shrink_to_fit();
        listing
    }

    /// The oldest [`LISTED`] streams, and the counts of all.
    pub fn list(&self) -> Listing {
        self.listing(|connections| {
            connections.sort_by_key(|c| c.id);
            connections.truncate(LISTED);
        })
    }

    fn listing(&self, pick: impl FnOnce(&mut Vec<Connection>)) -> Listing {
        let open = self.open.lock().expect("connections");
        let mut by_way = BTreeMap::new();
        let mut by_board = BTreeMap::new();
        for (c, _) in open.values() {
            *by_way.entry(format!("{}/{}", c.transport, c.pattern)).or_default() += 1;
            *by_board.entry(c.board.clone()).or_default() += 1;
        }
        let mut connections: Vec<Connection> = open.values().map(|(c, _)| c.clone()).collect();
        pick(&mut connections);
        Listing { by_way, by_board, connections, total: open.len() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_listed_while_open_and_ended_one_or_by_board() {
        let registry = Arc::new(Connections::default());
        let (a, ta) = registry.register("b1", Transport::Sse, PatternKind::PushOps, Some(("c1".into(), "Ada".into())));
        let (_b, tb) = registry.register("b1", Transport::Ws, PatternKind::PushOps, None);
        let (_c, tc) = registry.register("b2", Transport::Ws, PatternKind::EventDiff, None);
        let listing = registry.list();
        assert_eq!(listing.total, 3);
        assert_eq!(listing.by_way["ws/push-ops"], 1);
        assert_eq!(listing.by_board["b1"], 2);
        assert_eq!(listing.connections[0].client.as_deref(), Some("c1"));
        assert!(registry.disconnect(listing.connections[2].id));
        assert!(tc.is_cancelled() && !ta.is_cancelled());
        assert_eq!(registry.end_board("b1"), 2);
        assert!(ta.is_cancelled() && tb.is_cancelled());
        drop(a);
        assert_eq!(registry.list().total, 2, "a dropped stream leaves");
        assert!(!registry.disconnect(999));
        let (_d, _) = registry.register("b3", Transport::Sse, PatternKind::PokePull, None);
        let newest = registry.newest(1);
        assert_eq!((newest.total, newest.connections.len()), (3, 1));
        assert_eq!(newest.connections[0].board, "b3", "the newest first");
    }
}
