//! The in-process broker: one `broadcast` channel per board, created on first subscribe
//! and dropped once nobody listens. On its own it serves one replica; the Redis broker
//! uses it as each replica's local fan-out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use super::{Broker, Notice, CHANNEL_CAPACITY};
use crate::live::LiveChange;

#[derive(Default)]
pub struct MemoryBroker {
    boards: Mutex<HashMap<String, broadcast::Sender<Notice>>>,
}

impl MemoryBroker {
    /// Hands a notice to this replica's subscribers of `board`.
    pub fn deliver(&self, board: &str, notice: Notice) {
        let mut boards = self.boards.lock().expect("broker lock");
        if let Some(sender) = boards.get(board) {
            if sender.send(notice).is_err() {
                // Nobody listens to this board any more: forget its channel.
                boards.remove(board);
            }
        }
    }

    /// The boards that have subscribers on this replica.
    pub fn boards(&self) -> Vec<String> {
        let mut boards = self.boards.lock().expect("broker lock");
        boards.retain(|_, sender| sender.receiver_count() > 0);
        boards.keys().cloned().collect()
    }
}

#[async_trait::async_trait]
impl Broker for MemoryBroker {
    async fn publish(&self, change: Arc<LiveChange>) {
        let board = change.board.clone();
        self.deliver(&board, Notice::Change(change));
    }

    async fn subscribe(&self, board: &str) -> broadcast::Receiver<Notice> {
        let mut boards = self.boards.lock().expect("broker lock");
        boards.entry(board.to_owned()).or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0).subscribe()
    }

    /// Every commit of a single replica goes through here.
    fn follows(&self, _board: &str) -> bool {
        true
    }

    async fn ready(&self) -> Result<(), String> {
        Ok(())
    }
}
