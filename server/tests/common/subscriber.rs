//! A client of one transport as a test sees it: batches of frames from a seq on, over
//! short poll, long-poll, SSE or WebSocket.

use std::time::Duration;

use board_core::patterns::Frame;
use futures::StreamExt;

use super::{SseReader, TestServer};

/// A client of one transport, as a test sees it: batches of frames from `since` on.
pub struct Subscriber {
    pub transport: board_core::protocol::Transport,
    pub pattern: board_core::patterns::PatternKind,
    board: String,
    base: String,
    http: reqwest::Client,
    sse: Option<SseReader>,
    ws: Option<WsStream>,
}

pub type WsStream = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

impl TestServer {
    /// Connects a subscriber that holds seq `since`.
    pub async fn subscribe(
        &self,
        board: &str,
        transport: board_core::protocol::Transport,
        pattern: board_core::patterns::PatternKind,
        since: u64,
    ) -> Subscriber {
        use board_core::protocol::Transport;
        let mut sub = Subscriber {
            transport,
            pattern,
            board: board.to_owned(),
            base: self.base.clone(),
            http: self.http.clone(),
            sse: None,
            ws: None,
        };
        let query = format!("pattern={pattern}&since={since}");
        match transport {
            Transport::Sse => sub.sse = Some(self.sse(board, &query, None).await),
            Transport::Ws => {
                let url = format!("{}/api/boards/{board}/ws?{query}", self.base.replace("http://", "ws://"));
                let (ws, _) = tokio_tungstenite::connect_async(url).await.expect("websocket connects");
                sub.ws = Some(ws);
            }
            Transport::Poll | Transport::LongPoll => {}
        }
        sub
    }
}

impl Subscriber {
    /// The next frames for a client at `applied` (control frames included), waiting up to
    /// 10 s for at least one.
    pub async fn next_batch(&mut self, applied: u64) -> Vec<Frame> {
        let frames = self.batch_within(applied, Duration::from_secs(10)).await;
        assert!(!frames.is_empty(), "{} sent nothing within 10 s", self.transport);
        frames
    }

    /// Like `next_batch`, but an empty batch when nothing came within `wait`.
    pub async fn batch_within(&mut self, applied: u64, wait: Duration) -> Vec<Frame> {
        use board_core::protocol::Transport;
        let deadline = tokio::time::Instant::now() + wait;
        while tokio::time::Instant::now() < deadline {
            let left = deadline - tokio::time::Instant::now();
            let frames = match self.transport {
                Transport::Sse => match tokio::time::timeout(left, self.sse.as_mut().unwrap().next_inner()).await {
                    Ok((_, frame)) => vec![frame],
                    Err(_) => return Vec::new(),
                },
                Transport::Ws => {
                    let ws = self.ws.as_mut().unwrap();
                    let Ok(message) = tokio::time::timeout(left, ws.next()).await else { return Vec::new() };
                    match message.expect("socket open").expect("socket message") {
                        tokio_tungstenite::tungstenite::Message::Text(text) => {
                            vec![serde_json::from_str(&text).unwrap()]
                        }
                        _ => Vec::new(),
                    }
                }
                Transport::Poll | Transport::LongPoll => {
                    let path = if self.transport == Transport::Poll { "poll" } else { "long-poll" };
                    let hold = left.as_secs().clamp(0, 5);
                    let url = format!(
                        "{}/api/boards/{}/{path}?pattern={}&since={applied}&timeout={hold}",
                        self.base, self.board, self.pattern
                    );
                    let r = self.http.get(url).send().await.unwrap();
                    match r.status().as_u16() {
                        304 => {
                            tokio::time::sleep(Duration::from_millis(30)).await;
                            Vec::new()
                        }
                        200 => r.json::<board_core::api::FramesPage>().await.unwrap().frames,
                        other => panic!("{path} answered {other}"),
                    }
                }
            };
            if !frames.is_empty() {
                return frames;
            }
        }
        Vec::new()
    }

    pub async fn close(self) {
        if let Some(mut ws) = self.ws {
            let _ = ws.close(None).await;
        }
    }
}

impl Subscriber {
    /// The raw socket of a WebSocket subscriber, for tests that speak the protocol.
    pub fn into_ws(self) -> WsStream {
        self.ws.expect("a websocket subscriber")
    }
}
