//! The benchmarks' clients: each follows one board over one transport until it holds a
//! target seq, records when each change arrived, and keeps its connection open until the
//! run releases it (so the server's socket statistics still count it). A poke-pull client
//! can also pull, as the page's engine does: one pull of the newest poked seq at a time.

// Each benchmark uses part of this harness.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;

use board_core::api::FramesPage;
use board_core::patterns::{Frame, PatternKind};
use board_core::protocol::Transport;

/// Each change once, in order, ending at `target`; the self-contained patterns (poke-pull,
/// push-state) may skip to the newest, since one frame carries everything.
pub fn check(pattern: PatternKind, transport: Transport, seqs: &[(u64, Instant)], target: u64) {
    let got: Vec<u64> = seqs.iter().map(|(seq, _)| *seq).collect();
    if pattern.self_contained() {
        assert!(got.windows(2).all(|w| w[0] < w[1]), "{transport}: seqs out of order: {got:?}");
        assert_eq!(got.last(), Some(&target), "{transport}: did not reach seq {target}");
    } else {
        assert_eq!(got, (1..=target).collect::<Vec<_>>(), "{transport}: every change once, in order");
    }
}

/// What one client received: each data frame's seq and when it arrived.
#[derive(Default)]
pub struct Received {
    pub seqs: Vec<(u64, Instant)>,
    pub frames: u64,
    pub bytes: u64,
    /// Told each seq as it arrives, when a pull task follows the pokes.
    poked: Option<tokio::sync::watch::Sender<u64>>,
}

pub struct Client {
    pub base: String,
    pub board: String,
    pub pattern: PatternKind,
    pub target: u64,
    pub hold: Hold,
    /// Pulls the poked seqs (poke-pull only); `None`: the pokes' seqs are enough.
    pub puller: Option<Arc<Puller>>,
    /// The client its requests go through, shared with others (over HTTP/2, their streams
    /// share its connection, as a browser's tabs do); `None`: a connection of its own.
    pub http: Option<reqwest::Client>,
}

/// A client that has everything says so, and keeps its connection until released.
pub struct Hold {
    pub done: tokio::sync::mpsc::Sender<()>,
    pub release: tokio::sync::watch::Receiver<bool>,
}

impl Hold {
    async fn done_then_wait(&self) {
        self.done.send(()).await.unwrap();
        let mut release = self.release.clone();
        release.wait_for(|released| *released).await.expect("the run releases its clients");
    }
}

impl Client {
    /// Follows the board until it holds seq `target`; says `ready` once connected.
    pub async fn follow(self, transport: Transport, ready: Ready, poll_every: Duration) -> Received {
        let mut got = Received::default();
        // A poke-pull client that pulls: the stream hands each poked seq to a pull task
        // (a `watch`, so pokes that come while a pull is out coalesce into the newest).
        let pulling = self.puller.clone().map(|puller| {
            let (poked, newest) = tokio::sync::watch::channel(0);
            got.poked = Some(poked);
            tokio::spawn(puller.follow(self.board.clone(), newest, self.target))
        });
        // The connection stays open until the run releases the client.
        let _connection = match transport {
            Transport::Sse => self.sse(&mut got, ready).await,
            Transport::Ws => self.ws(&mut got, ready).await,
            Transport::LongPoll | Transport::Poll => self.requests(transport, &mut got, ready, poll_every).await,
        };
        if let Some(pulling) = pulling {
            pulling.await.expect("a pull task panicked");
        }
        self.hold.done_then_wait().await;
        got
    }

    fn url(&self, transport: Transport, query: &str) -> String {
        format!("{}/api/boards/{}/{transport}?pattern={}&{query}", self.base, self.board, self.pattern)
    }

    async fn sse(&self, got: &mut Received, ready: Ready) -> Connection {
        let http = self.http.clone().unwrap_or_default();
        let mut events = sse_data(http.get(self.url(Transport::Sse, "since=0")).send().await.expect("SSE connects"));
        let mut ready = Some(ready);
        while got.last() < self.target {
            let data = events.next().await.expect("the stream stays open");
            got.take(data.as_bytes());
            if let Some(ready) = ready.take() {
                ready.send(()).await.unwrap();
            }
        }
        Box::new(events)
    }

    async fn ws(&self, got: &mut Received, ready: Ready) -> Connection {
        let url = self.url(Transport::Ws, "since=0").replacen("http", "ws", 1);
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("WS connects");
        let mut ready = Some(ready);
        while got.last() < self.target {
            match ws.next().await.expect("the socket stays open").expect("WS reads") {
                tokio_tungstenite::tungstenite::Message::Text(text) => got.take(text.as_bytes()),
                _ => continue,
            }
            if let Some(ready) = ready.take() {
                ready.send(()).await.unwrap();
            }
        }
        Box::new(ws)
    }

    /// Poll and long-poll: one request after another, each from the seq held.
    async fn requests(
        &self,
        transport: Transport,
        got: &mut Received,
        ready: Ready,
        poll_every: Duration,
    ) -> Connection {
        let http = self.http.clone().unwrap_or_default();
        let mut ready = Some(ready);
        while got.last() < self.target {
            // The first request is answered at once (`timeout=0`): connected.
            let hold = if ready.is_some() { 0 } else { 25 };
            let url = self.url(transport, &format!("since={}&timeout={hold}", got.last()));
            let r = http.get(&url).send().await.expect("the server answers");
            if let Some(ready) = ready.take() {
                ready.send(()).await.unwrap();
            }
            if r.status() == 304 {
                tokio::time::sleep(poll_every).await;
                continue;
            }
            let body = r.bytes().await.expect("a body");
            let at = Instant::now();
            got.bytes += body.len() as u64;
            let page: FramesPage = serde_json::from_slice(&body).expect("a frames page");
            for frame in page.frames {
                got.frames += 1;
                got.data(&frame, at);
            }
            if transport == Transport::Poll && got.last() < self.target {
                tokio::time::sleep(poll_every).await;
            }
        }
        Box::new(http)
    }
}

/// Told once per client when it is connected.
/// The data of each event of an SSE response, in order; ends when the connection does
/// (closed or broken: a caller tells the two apart by what it expected next).
pub fn sse_data(response: reqwest::Response) -> futures::stream::BoxStream<'static, String> {
    let mut buf = String::new();
    response
        .bytes_stream()
        .take_while(|chunk| futures::future::ready(chunk.is_ok()))
        .flat_map(move |chunk| {
            buf.push_str(std::str::from_utf8(&chunk.expect("only chunks that were read")).expect("UTF-8"));
            let mut events = Vec::new();
            while let Some(end) = buf.find("\n\n") {
                let event: String = buf.drain(..end + 2).collect();
                let data: String = event.lines().filter_map(|l| l.strip_prefix("data:")).collect();
                if !data.is_empty() {
                    events.push(data.trim().to_owned());
                }
            }
            futures::stream::iter(events)
        })
        .boxed()
}

/// A client's open connection (a stream, a socket, a kept-alive pool), held until released.
type Connection = Box<dyn std::any::Any + Send>;

pub type Ready = tokio::sync::mpsc::Sender<()>;

impl Received {
    fn last(&self) -> u64 {
        self.seqs.last().map_or(0, |(seq, _)| *seq)
    }

    /// One frame off a streaming transport.
    fn take(&mut self, json: &[u8]) {
        let at = Instant::now();
        self.frames += 1;
        self.bytes += json.len() as u64;
        let frame: Frame = serde_json::from_slice(json).expect("a frame");
        assert!(!matches!(frame, Frame::Reset { .. }), "no reset expected");
        self.data(&frame, at);
    }

    fn data(&mut self, frame: &Frame, at: Instant) {
        if let (Some(seq), false) = (frame.seq(), matches!(frame, Frame::Reset { .. })) {
            self.seqs.push((seq, at));
            if let Some(poked) = &self.poked {
                poked.send_replace(seq);
            }
        }
    }
}

/// Pulls for poke-pull clients, as the page's engine does: the newest poked seq's immutable
/// snapshot (`GET /snapshots/{seq}`), or the current state when that seq is no longer the
/// head (`410`). Through nginx, `X-Cache-Status` says whether a pull reached a replica.
pub struct Puller {
    http: reqwest::Client,
    /// Where pulls go: a replica directly, or nginx (with its snapshot cache) in front.
    base: String,
    pub counts: std::sync::Mutex<Pulls>,
}

/// What the pulls cost, in total and per poked seq.
#[derive(Debug, Default, Clone)]
pub struct Pulls {
    /// Requests sent (snapshots and fallbacks).
    pub sent: u64,
    /// Of those, answered by nginx's cache without reaching a replica.
    pub cache_hits: u64,
    /// Snapshot pulls answered `410` (the head had moved on) and sent again as a state read.
    pub fallbacks: u64,
    /// Requests that reached a replica, by the seq that was poked.
    pub reached_by_seq: std::collections::BTreeMap<u64, u64>,
}

impl Puller {
    pub fn new(base: &str, clients: usize) -> Puller {
        // One pool for every client, sized so each can have its pull out at once.
        let http = reqwest::Client::builder().pool_max_idle_per_host(clients).build().unwrap();
        Puller { http, base: base.to_owned(), counts: Default::default() }
    }

    /// Pulls the newest poked seq until the client holds `target`.
    async fn follow(self: Arc<Self>, board: String, mut poked: tokio::sync::watch::Receiver<u64>, target: u64) {
        let mut have = 0;
        while have < target {
            let Ok(newest) = poked.wait_for(|seq| *seq > have).await.map(|seq| *seq) else { return };
            have = have.max(self.pull(&board, newest).await);
        }
    }

    /// One pull of `seq`; returns the seq of the state it got.
    async fn pull(&self, board: &str, seq: u64) -> u64 {
        let url = format!("{}/api/boards/{board}/snapshots/{seq}", self.base);
        let r = self.http.get(&url).send().await.expect("a snapshot pull is answered");
        let hit = r.headers().get("x-cache-status").is_some_and(|v| v == "HIT");
        let (status, mut fell_back) = (r.status().as_u16(), false);
        let body = match status {
            200 => r.bytes().await.expect("a snapshot body"),
            404 | 410 => {
                fell_back = true;
                let state = format!("{}/api/boards/{board}", self.base);
                let r = self.http.get(&state).send().await.expect("a state read is answered");
                assert_eq!(r.status(), 200, "the state read succeeds");
                r.bytes().await.expect("a state body")
            }
            other => panic!("a snapshot pull was answered {other}"),
        };
        let state: board_core::domain::model::BoardState = serde_json::from_slice(&body).expect("a board state");
        let mut counts = self.counts.lock().unwrap();
        counts.sent += 1 + u64::from(fell_back);
        counts.cache_hits += u64::from(hit);
        counts.fallbacks += u64::from(fell_back);
        *counts.reached_by_seq.entry(seq).or_default() += u64::from(!hit) + u64::from(fell_back);
        state.seq
    }
}
