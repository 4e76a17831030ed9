//! NATS core subjects as a [`Bus`] (the `async-nats` crate): one subject per board
//! (`board.{id}`), `PUB` to send, one listening connection per replica with a `SUB` per
//! board it follows. Core NATS is at most once, like Redis pub/sub; JetStream would keep
//! messages for a replica that was away, which the change log already does for us.
//!
//! The client reconnects by itself and replays its subscriptions; what was published
//! meanwhile is lost, and the relay must hear of it to sweep. So the listening connection
//! reports its first disconnect and its messages end there: the relay opens another and
//! sweeps, as over every bus. NATS does not confirm a `SUB`; a follow returns after a round
//! trip on the same connection (a request nobody answers, which the server answers "no
//! responders"), and the server reads a connection in order, so it has the `SUB` by then.

use std::collections::HashSet;

use futures::stream::BoxStream;
use futures::StreamExt;
use tokio::sync::{mpsc, watch};

use super::bus::{Bus, Channels, Listening};
use crate::BoxError;

/// The NATS subject of a board. Board ids hold letters, digits, `-` and `_`, never the
/// `.`, `*` or `>` that mean something in a subject.
pub fn subject(board: &str) -> String {
    format!("board.{board}")
}

pub struct NatsBus {
    url: String,
    /// Publishes; reconnects by itself (what it publishes meanwhile waits in its buffer).
    publisher: async_nats::Client,
}

impl NatsBus {
    /// Connects to the NATS server at `url` (`nats://host:port`): an error when it does
    /// not answer.
    pub async fn connect(url: &str) -> Result<NatsBus, async_nats::ConnectError> {
        let publisher = async_nats::connect(url).await?;
        Ok(NatsBus { url: url.to_owned(), publisher })
    }
}

#[async_trait::async_trait]
impl Bus for NatsBus {
    fn name(&self) -> &'static str {
        "nats"
    }

    async fn publish(&self, board: &str, text: String) -> Result<(), BoxError> {
        self.publisher.publish(subject(board), text.into()).await?;
        Ok(())
    }

    /// The server's `max_payload` (1 MB by default).
    fn max_message_bytes(&self) -> usize {
        self.publisher.max_payload()
    }

    async fn listen(&self) -> Result<Listening, BoxError> {
        let (lost, mut gone) = watch::channel(false);
        let client = async_nats::ConnectOptions::new()
            .event_callback(move |event| {
                let lost = lost.clone();
                async move {
                    if matches!(event, async_nats::Event::Disconnected | async_nats::Event::Closed) {
                        lost.send_replace(true);
                    }
                }
            })
            .connect(&self.url)
            .await?;
        // New subscriptions reach the reading loop over a channel; dropping one there
        // unsubscribes it.
        let (changes, mut changed) = mpsc::unbounded_channel::<Change>();
        let messages: BoxStream<'static, String> = Box::pin(async_stream::stream! {
            let mut subscribers = tokio_stream::StreamMap::new();
            loop {
                tokio::select! {
                    biased;
                    // (The `Ref` a wait returns is not `Send`: dropped inside, not held.)
                    () = async { let _ = gone.wait_for(|lost| *lost).await; } => return,
                    change = changed.recv() => match change {
                        Some(Change::Follow(board, subscriber)) => { subscribers.insert(board, subscriber); }
                        Some(Change::Unfollow(board)) => { subscribers.remove(&board); }
                        None => return,
                    },
                    Some((_, message)) = subscribers.next(), if !subscribers.is_empty() => {
                        let message: async_nats::Message = message;
                        if let Ok(text) = String::from_utf8(message.payload.to_vec()) {
                            yield text;
                        }
                    }
                }
            }
        });
        Ok(Listening { channels: Box::new(Subscriptions { client, changes, followed: HashSet::new() }), messages })
    }

    async fn ready(&self) -> Result<(), BoxError> {
        match self.publisher.connection_state() {
            async_nats::connection::State::Connected => Ok(()),
            state => Err(format!("nats is {state:?}").into()),
        }
    }
}

/// A subscription made, or one to drop, on its way to the reading loop.
enum Change {
    Follow(String, async_nats::Subscriber),
    Unfollow(String),
}

/// A subject nobody subscribes to: a request to it is answered at once, by the server,
/// with "no responders".
const BARRIER: &str = "board-bus.barrier";

/// The listening connection's subscriptions.
struct Subscriptions {
    client: async_nats::Client,
    changes: mpsc::UnboundedSender<Change>,
    /// The boards subscribed here (the reading loop holds the subscribers themselves).
    followed: HashSet<String>,
}

impl Subscriptions {
    /// A round trip on this connection. The server reads a connection's messages in order,
    /// so once it has answered a request sent after the `SUB`s, it has them: what is
    /// published from now on reaches this replica.
    async fn barrier(&self) -> Result<(), BoxError> {
        match self.client.request(BARRIER, bytes::Bytes::new()).await {
            Ok(_) => Ok(()),
            Err(err) if err.kind() == async_nats::RequestErrorKind::NoResponders => Ok(()),
            Err(err) => Err(err.into()),
        }
    }
}

#[async_trait::async_trait]
impl Channels for Subscriptions {
    async fn follow(&mut self, boards: &[String]) -> Result<(), BoxError> {
        for board in boards {
            if self.followed.contains(board) {
                continue;
            }
            let subscriber = self.client.subscribe(subject(board)).await?;
            self.changes.send(Change::Follow(board.clone(), subscriber)).map_err(|_| "the connection is lost")?;
            self.followed.insert(board.clone());
        }
        self.barrier().await
    }

    async fn unfollow(&mut self, boards: &[String]) -> Result<(), BoxError> {
        for board in boards {
            if self.followed.remove(board) {
                self.changes.send(Change::Unfollow(board.clone())).map_err(|_| "the connection is lost")?;
            }
        }
        Ok(())
    }
}
