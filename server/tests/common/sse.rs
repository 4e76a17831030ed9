//! Reading `text/event-stream`: a test's SSE connection, frame by frame.

use std::time::Duration;

use board_core::patterns::Frame;
use futures::StreamExt;

use super::TestServer;

impl TestServer {
    pub async fn sse(&self, board: &str, query: &str, last_event_id: Option<u64>) -> SseReader {
        let mut req = self.http.get(self.url(&format!("/api/boards/{board}/sse?{query}")));
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id.to_string());
        }
        SseReader::open(req).await
    }
}

type ByteStream = std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>;

/// Reads `text/event-stream` events: (id, frame). Comments (keep-alives) are skipped.
pub struct SseReader {
    body: ByteStream,
    buf: String,
}

impl SseReader {
    /// Sends `request` (a `GET .../sse` of any server, a replica in its own process too)
    /// and reads its stream.
    pub async fn open(request: reqwest::RequestBuilder) -> SseReader {
        SseReader::from_response(request.send().await.unwrap())
    }

    /// Reads the stream of an answer already received (a test that looks at its headers first).
    pub fn from_response(r: reqwest::Response) -> SseReader {
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
        SseReader { body: Box::pin(r.bytes_stream()), buf: String::new() }
    }

    /// `true` once the server ends the stream (within 10 s), skipping frames before that.
    pub async fn ended(&mut self) -> bool {
        let end = async {
            while let Some(chunk) = self.body.next().await {
                if chunk.is_err() {
                    return;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(10), end).await.is_ok()
    }

    /// The next frame of the change log's stream (control frames included); ephemeral
    /// presence frames, which every stream also carries, are skipped (see `next_any`).
    pub async fn next(&mut self) -> (Option<u64>, Frame) {
        loop {
            let (id, frame) = self.next_any().await;
            if !frame.is_ephemeral() {
                return (id, frame);
            }
        }
    }

    /// The next frame, whatever it is, within 10 s.
    pub async fn next_any(&mut self) -> (Option<u64>, Frame) {
        tokio::time::timeout(Duration::from_secs(10), self.next_inner()).await.expect("an SSE event within 10 s")
    }

    /// The next data frame, skipping hello and heartbeat.
    pub async fn next_data(&mut self) -> (Option<u64>, Frame) {
        loop {
            let (id, frame) = self.next().await;
            if !matches!(frame, Frame::Hello { .. } | Frame::Heartbeat { .. }) {
                return (id, frame);
            }
        }
    }

    /// The next frame, whatever it is, however long it takes.
    pub async fn next_inner(&mut self) -> (Option<u64>, Frame) {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut id = None;
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().parse().unwrap());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.strip_prefix(' ').unwrap_or(v));
                    }
                }
                if data.is_empty() {
                    continue; // a comment
                }
                return (id, serde_json::from_str(&data).unwrap_or_else(|e| panic!("bad frame {data}: {e}")));
            }
            let chunk = self.body.next().await.expect("stream open").expect("stream chunk");
            self.buf.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }
}
