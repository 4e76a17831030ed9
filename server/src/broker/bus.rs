//! A bus: the link between replicas, and nothing else. It carries opaque text on one
//! channel per board, at most once, to the replicas that follow that board's channel. What
//! the text means, which replica sent it, what to do when the link drops and comes back:
//! all of that is the [`Relay`](super::relay::Relay)'s, the same over every bus. (centrifuge
//! draws the line in the same place: a broker is the transport, a handler gets what it
//! delivers.)
//!
//! A bus is a few calls: publish text on a board's channel; open a [`Listening`]
//! connection, whose channels can be followed and unfollowed and whose messages end when it
//! drops; say whether it is ready; and, if it can, how many replicas follow a channel.
//! Adding a bus is one file that implements [`Bus`], and one line where `BROKER_URL`'s
//! scheme picks it.

use futures::stream::BoxStream;

use crate::BoxError;

/// The link between replicas.
#[async_trait::async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Its name, for logs and readiness ("redis").
    fn name(&self) -> &'static str;
    /// Sends `text` on `board`'s channel to every replica listening to it (this one too,
    /// if it listens: the relay drops its own echoes). At most once.
    async fn publish(&self, board: &str, text: String) -> Result<(), BoxError>;
    /// Opens a connection to listen on, following no channel yet. Its messages come
    /// until it drops, then the stream ends.
    async fn listen(&self) -> Result<Listening, BoxError>;
    /// Can the bus carry a message right now (for `/readyz`)?
    async fn ready(&self) -> Result<(), BoxError>;
    /// The longest message it carries, in bytes. The relay sends nothing longer: a change
    /// record that does not fit goes as its seq alone (the others read it from the log).
    fn max_message_bytes(&self) -> usize {
        usize::MAX
    }
    /// How many replicas listen to each of `boards`' channels, in order; `None` when the
    /// bus cannot tell. (Only a metric reads it: it shows what board affinity achieves.)
    async fn followers(&self, _boards: &[String]) -> Option<Vec<usize>> {
        None
    }
}

/// A listening connection: its channels, and what arrives on them.
pub struct Listening {
    /// Follows and unfollows boards' channels on this connection.
    pub channels: Box<dyn Channels>,
    /// Each message's text, as it arrives; the stream ends when the connection drops.
    pub messages: BoxStream<'static, String>,
}

/// The channels a listening connection follows.
#[async_trait::async_trait]
pub trait Channels: Send + Sync {
    /// Follows these boards' channels. Once this returns, what is published on them arrives.
    async fn follow(&mut self, boards: &[String]) -> Result<(), BoxError>;
    /// Stops following these boards' channels.
    async fn unfollow(&mut self, boards: &[String]) -> Result<(), BoxError>;
    /// Closes the connection, and returns once nothing of it runs any more: the server's
    /// shutdown waits for this. A bus whose connection is gone once dropped has nothing
    /// to do here; one whose client finishes closing in a task of its own waits for it.
    async fn close(&mut self) {}
}
