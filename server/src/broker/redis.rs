//! Redis pub/sub as a [`Bus`]: one channel per board (`board:{id}`), `PUBLISH` to send,
//! one pub/sub connection per replica to listen (`SUBSCRIBE`/`UNSUBSCRIBE` on it), `PING`
//! for readiness and `PUBSUB NUMSUB` for how many replicas follow a board. Pub/sub is at
//! most once: a message published while a replica is disconnected is gone, which the
//! relay's sweep after a reconnect repairs from the log.

use futures::StreamExt;
use redis::aio::{ConnectionManager, PubSubSink};
use redis::AsyncCommands;

use super::bus::{Bus, Channels, Listening};
use crate::BoxError;

/// The Redis channel of a board's changes: the one place its name is made.
pub fn channel(board: &str) -> String {
    format!("board:{board}")
}

pub struct RedisBus {
    client: redis::Client,
    /// Publishes and asks (`PING`, `PUBSUB NUMSUB`); reconnects by itself.
    publisher: ConnectionManager,
}

impl RedisBus {
    /// Connects to the Redis at `url` (`redis://host:port`): an error when it does not
    /// answer, so a replica configured for Redis does not start without it.
    pub async fn connect(url: &str) -> Result<RedisBus, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let publisher = ConnectionManager::new(client.clone()).await?;
        Ok(RedisBus { client, publisher })
    }
}

#[async_trait::async_trait]
impl Bus for RedisBus {
    fn name(&self) -> &'static str {
        "redis"
    }

    async fn publish(&self, board: &str, text: String) -> Result<(), BoxError> {
        let _receivers: i64 = self.publisher.clone().publish(channel(board), text).await?;
        Ok(())
    }

    async fn listen(&self) -> Result<Listening, BoxError> {
        let (sink, stream) = self.client.get_async_pubsub().await?.split();
        let messages = stream.filter_map(|message| std::future::ready(message.get_payload::<String>().ok()));
        Ok(Listening { channels: Box::new(Subscriptions(sink)), messages: messages.boxed() })
    }

    async fn ready(&self) -> Result<(), BoxError> {
        let _pong: String = redis::cmd("PING").query_async(&mut self.publisher.clone()).await?;
        Ok(())
    }

    /// `PUBSUB NUMSUB` of the boards' channels: each replica holds one subscription per
    /// board it follows, so the count is the replicas.
    async fn followers(&self, boards: &[String]) -> Option<Vec<usize>> {
        let mut command = redis::cmd("PUBSUB");
        command.arg("NUMSUB").arg(channels(boards));
        match command.query_async::<Vec<(String, usize)>>(&mut self.publisher.clone()).await {
            // Answered in the order asked: channel, count, channel, count...
            Ok(counts) => Some(counts.into_iter().map(|(_, count)| count).collect()),
            Err(err) => {
                tracing::warn!(error = %err, "cannot count a board's followers");
                None
            }
        }
    }
}

fn channels(boards: &[String]) -> Vec<String> {
    boards.iter().map(|board| channel(board)).collect()
}

/// The command half of a pub/sub connection.
struct Subscriptions(PubSubSink);

#[async_trait::async_trait]
impl Channels for Subscriptions {
    async fn follow(&mut self, boards: &[String]) -> Result<(), BoxError> {
        Ok(self.0.subscribe(channels(boards)).await?)
    }

    async fn unfollow(&mut self, boards: &[String]) -> Result<(), BoxError> {
        Ok(self.0.unsubscribe(channels(boards)).await?)
    }
}
