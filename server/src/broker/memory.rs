//! The in-process broker: one `broadcast` channel per board, created on first subscribe
//! and dropped once a publish finds no receiver left.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use super::{Broker, CHANNEL_CAPACITY};
use crate::live::LiveChange;

#[derive(Default)]
pub struct MemoryBroker {
    boards: Mutex<HashMap<String, broadcast::Sender<Arc<LiveChange>>>>,
}

#[async_trait::async_trait]
impl Broker for MemoryBroker {
    async fn publish(&self, change: Arc<LiveChange>) {
        let mut boards = self.boards.lock().expect("broker lock");
        if let Some(sender) = boards.get(&change.board) {
            if sender.send(change.clone()).is_err() {
                // Nobody listens to this board any more: forget its channel.
                boards.remove(&change.board);
            }
        }
    }

    fn subscribe(&self, board: &str) -> broadcast::Receiver<Arc<LiveChange>> {
        let mut boards = self.boards.lock().expect("broker lock");
        boards.entry(board.to_owned()).or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0).subscribe()
    }

    async fn ready(&self) -> Result<(), String> {
        Ok(())
    }
}
