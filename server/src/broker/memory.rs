//! The in-process broker: one `broadcast` channel per board, created on first subscribe
//! and removed when its last [`Subscription`] is dropped, so a board nobody follows costs
//! nothing here. On its own it serves one replica; the Redis broker uses it as each
//! replica's local fan-out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use super::{Broker, Notice, CHANNEL_CAPACITY};
use crate::live::LiveChange;

type Channels = Arc<Mutex<HashMap<String, broadcast::Sender<Notice>>>>;

#[derive(Default)]
pub struct MemoryBroker {
    /// One channel per board with subscribers here; shared with each [`Subscription`],
    /// which removes its board's channel when it is the last to leave.
    boards: Channels,
}

/// One subscriber's end of a board's channel on this replica. Dropping it leaves the
/// board; the last one to leave removes the board's channel.
pub struct Subscription {
    /// `None` only while dropping: the receiver must be gone before the count is read.
    receiver: Option<broadcast::Receiver<Notice>>,
    board: String,
    boards: Channels,
}

impl Subscription {
    /// The next notice; `Lagged` when this subscriber fell more than the channel's capacity
    /// behind (it repairs from the log).
    pub async fn recv(&mut self) -> Result<Notice, broadcast::error::RecvError> {
        self.receiver.as_mut().expect("a live subscription has its receiver").recv().await
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        drop(self.receiver.take());
        // Under the lock, so a subscriber joining now either counts here or makes a new channel.
        let mut boards = self.boards.lock().expect("broker lock");
        if boards.get(&self.board).is_some_and(|sender| sender.receiver_count() == 0) {
            boards.remove(&self.board);
        }
    }
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

    async fn subscribe(&self, board: &str) -> Subscription {
        let mut boards = self.boards.lock().expect("broker lock");
        let receiver =
            boards.entry(board.to_owned()).or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0).subscribe();
        Subscription { receiver: Some(receiver), board: board.to_owned(), boards: self.boards.clone() }
    }

    /// Every commit of a single replica goes through here.
    fn follows(&self, _board: &str) -> bool {
        true
    }

    fn channels(&self) -> usize {
        self.boards.lock().expect("broker lock").len()
    }

    fn boards(&self) -> Vec<String> {
        MemoryBroker::boards(self)
    }

    /// One process: every board followed here is followed by this replica alone.
    async fn followers(&self) -> Vec<(String, usize)> {
        self.boards().into_iter().map(|board| (board, 1)).collect()
    }

    fn deliver_here(&self, board: &str, notice: Notice) {
        self.deliver(board, notice);
    }

    /// One replica: there is nobody else to tell.
    async fn publish_ephemeral(&self, _board: &str, _message: serde_json::Value) {}

    async fn ready(&self) -> Result<(), String> {
        Ok(())
    }
}
