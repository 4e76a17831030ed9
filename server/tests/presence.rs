//! Presence and signalling, on SQLite and Postgres, one replica and two: the presence list
//! on all four transports (and never a seq), leaving when a tab closes, signals to one tab
//! and relayed cursors to all, their refusals and limits, and across replicas, including
//! one that is SIGKILLed.

mod common;

use std::time::{Duration, Instant};

use board_core::patterns::Frame;
use board_core::presence::Member;
use board_core::protocol::Transport;
use common::{Backend, SseReader, TestServer, WsStream};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// One tab as a test drives it: its identity and its connection over one transport. It
/// reads presence lists and letters (signals, cursors) as the page would.
struct Tab {
    client: String,
    transport: Transport,
    base: String,
    board: String,
    http: reqwest::Client,
    sse: Option<SseReader>,
    ws: Option<WsStream>,
    /// The rev of the last list (poll and long-poll send it back).
    rev: Option<u64>,
    /// Signals and cursors received while waiting for something else.
    letters: Vec<Frame>,
}

impl Tab {
    async fn open(srv: &TestServer, board: &str, transport: Transport, client: &str) -> Tab {
        let mut tab = Tab {
            client: client.into(),
            transport,
            base: srv.base.clone(),
            board: board.into(),
            http: srv.http.clone(),
            sse: None,
            ws: None,
            rev: None,
            letters: Vec::new(),
        };
        match transport {
            Transport::Sse => tab.sse = Some(srv.sse(board, &tab.query(), None).await),
            Transport::Ws => {
                let url = format!("{}/api/boards/{board}/ws?{}", srv.base.replace("http://", "ws://"), tab.query());
                tab.ws = Some(tokio_tungstenite::connect_async(url).await.expect("websocket connects").0);
            }
            // A request tab is on the board once it asks.
            Transport::Poll | Transport::LongPoll => {
                tab.frames().await;
            }
        }
        tab
    }

    fn query(&self) -> String {
        let name = format!("Name of {}", self.client).replace(' ', "%20");
        // `p-0` and `p-1` are two tabs of person `p`.
        let person = self.client.split('-').next().unwrap_or(&self.client);
        let mut query = format!("pattern=push-ops&since=0&client={}&person={person}&name={name}", self.client);
        if let Some(rev) = self.rev {
            query.push_str(&format!("&presence={rev}"));
        }
        query
    }

    /// The next frames this tab gets (waiting at most a second).
    async fn frames(&mut self) -> Vec<Frame> {
        let wait = Duration::from_secs(1);
        match self.transport {
            Transport::Sse => match tokio::time::timeout(wait, self.sse.as_mut().unwrap().next_inner()).await {
                Ok((_, frame)) => vec![frame],
                Err(_) => Vec::new(),
            },
            Transport::Ws => match tokio::time::timeout(wait, self.ws.as_mut().unwrap().next()).await {
                Ok(Some(Ok(Message::Text(text)))) => vec![serde_json::from_str(&text).unwrap()],
                // The server pings a socket that has been quiet for a while; the library
                // answers as it reads.
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => Vec::new(),
                Ok(other) => panic!("the socket ended: {other:?}"),
                Err(_) => Vec::new(),
            },
            Transport::Poll | Transport::LongPoll => {
                let path = if self.transport == Transport::Poll { "poll" } else { "long-poll" };
                let url = format!("{}/api/boards/{}/{path}?{}&timeout=1", self.base, self.board, self.query());
                let r = self.http.get(url).send().await.unwrap();
                match r.status().as_u16() {
                    304 => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Vec::new()
                    }
                    200 => r.json::<board_core::api::FramesPage>().await.unwrap().frames,
                    other => panic!("{path} answered {other}"),
                }
            }
        }
    }

    /// Waits up to `limit` for a list that satisfies `wanted`; the list, or `None`.
    async fn list_where(&mut self, limit: Duration, wanted: impl Fn(&[Member]) -> bool) -> Option<Vec<Member>> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            for frame in self.frames().await {
                match frame {
                    Frame::Presence { rev, members, .. } => {
                        self.rev = Some(rev);
                        if wanted(&members) {
                            return Some(members);
                        }
                    }
                    letter @ (Frame::Signal { .. } | Frame::Cursor { .. }) => self.letters.push(letter),
                    _ => {}
                }
            }
        }
        None
    }

    /// Waits up to `limit` for a list with these clients (sorted), exactly.
    async fn sees(&mut self, limit: Duration, clients: &[&str]) -> Option<Vec<Member>> {
        self.list_where(limit, |members| listed(members) == clients).await
    }

    /// The next signal or cursor (waiting at most 5 s).
    async fn letter(&mut self) -> Frame {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.letters.is_empty() {
            assert!(Instant::now() < deadline, "{} got no letter within 5 s", self.client);
            for frame in self.frames().await {
                match frame {
                    Frame::Presence { rev, .. } => self.rev = Some(rev),
                    letter @ (Frame::Signal { .. } | Frame::Cursor { .. }) => self.letters.push(letter),
                    _ => {}
                }
            }
        }
        self.letters.remove(0)
    }

    /// Closes the tab as a page does: a stream's connection ends; a request tab says so.
    async fn close(self) {
        match self.transport {
            Transport::Sse => drop(self.sse),
            Transport::Ws => {
                let _ = self.ws.unwrap().close(None).await;
            }
            Transport::Poll | Transport::LongPoll => {
                let r = self
                    .http
                    .post(format!("{}/api/boards/{}/leave", self.base, self.board))
                    .json(&json!({"client": self.client}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 204);
            }
        }
    }
}

/// Every client on a list, sorted.
fn listed(members: &[Member]) -> Vec<String> {
    let mut clients: Vec<String> = members.iter().flat_map(|m| m.clients.iter().cloned()).collect();
    clients.sort();
    clients
}

async fn signal(srv: &TestServer, board: &str, body: Value) -> (u16, Value) {
    let r = srv.http.post(srv.url(&format!("/api/boards/{board}/signal"))).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

const SOON: Duration = Duration::from_secs(2);

async fn every_transport_sees_the_others_and_no_seq_is_taken(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let board = srv.create_board("presence").await;
    let mut watcher = Tab::open(&srv, &board, Transport::Sse, "w-0").await;
    assert!(watcher.sees(SOON, &["w-0"]).await.is_some(), "a tab sees itself");
    let mut expected = vec!["w-0".to_owned()];
    let mut tabs = Vec::new();
    for (i, transport) in Transport::ALL.into_iter().enumerate() {
        let client = format!("t{i}-{transport}");
        let joined = Instant::now();
        let mut tab = Tab::open(&srv, &board, transport, &client).await;
        expected.push(client.clone());
        expected.sort();
        let want: Vec<&str> = expected.iter().map(String::as_str).collect();
        let members = tab.sees(SOON, &want).await.unwrap_or_else(|| panic!("{transport} never listed {want:?}"));
        let me = members.iter().find(|m| m.clients.contains(&client)).unwrap();
        assert_eq!(me.name, format!("Name of {client}"));
        assert_eq!(me.via[0].transport, transport, "the list says how each tab is connected");
        assert!(watcher.sees(SOON, &want).await.is_some(), "the SSE tab sees {transport} join");
        println!("{transport}: listed on another tab's stream {:?} after it connected", joined.elapsed());
        tabs.push(tab);
    }
    // One person, two tabs: one member with a tab count.
    let mut second = Tab::open(&srv, &board, Transport::Ws, "w-1").await;
    let members = second.list_where(SOON, |m| m.iter().any(|m| m.person == "w" && m.tabs == 2)).await;
    assert!(members.is_some(), "two tabs of one person are one member");
    // A poll tab holding the current list and seq gets 304: nothing is new.
    let poll = &mut tabs[0];
    assert_eq!(poll.transport, Transport::Poll);
    poll.sees(SOON, &["t0-poll", "t1-long-poll", "t2-sse", "t3-ws", "w-0", "w-1"]).await.unwrap();
    let url = srv.url(&format!("/api/boards/{board}/poll?{}", poll.query()));
    assert_eq!(srv.http.get(url).send().await.unwrap().status(), 304);
    // Presence is not a change: the board is still at seq 0.
    assert_eq!(srv.state(&board).await.seq, 0);
    assert_eq!(srv.frames(&format!("/api/boards/{board}/changes?since=0&pattern=push-ops")).await.head, 0);
}

async fn a_closed_tab_leaves_within_two_seconds(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let board = srv.create_board("leaving").await;
    let mut watcher = Tab::open(&srv, &board, Transport::Ws, "w-0").await;
    for transport in Transport::ALL {
        let client = format!("x-{transport}");
        let tab = Tab::open(&srv, &board, transport, &client).await;
        assert!(watcher.sees(SOON, &["w-0", &client]).await.is_some(), "{transport} joined");
        let closed = Instant::now();
        tab.close().await;
        assert!(watcher.sees(SOON, &["w-0"]).await.is_some(), "{transport} still listed 2 s after it closed");
        println!("{transport}: left the list {:?} after closing", closed.elapsed());
    }
}

/// A poll tab is present while it keeps asking: its lease covers the gap between requests
/// (plus twice the interval it says it polls at), and runs out when it stops.
async fn a_poll_tab_stays_while_it_keeps_asking(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let board = srv.create_board("poll lease").await;
    let mut watcher = Tab::open(&srv, &board, Transport::Sse, "w-0").await;
    let poll = Tab::open(&srv, &board, Transport::Poll, "p-0").await;
    assert!(watcher.sees(SOON, &["p-0", "w-0"]).await.is_some());
    let stopped = Instant::now();
    drop(poll);
    let gone = watcher.sees(Duration::from_secs(8), &["w-0"]).await;
    assert!(gone.is_some(), "a poll tab that stopped asking is still listed after 8 s");
    let after = stopped.elapsed();
    assert!(
        after >= server::presence::REQUEST_LEASE - Duration::from_millis(200),
        "left after {after:?}, before its lease ran out"
    );
}

async fn signals_reach_one_tab_and_cursors_everyone(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let board = srv.create_board("signals").await;
    let mut a = Tab::open(&srv, &board, Transport::Sse, "a-0").await;
    let mut b = Tab::open(&srv, &board, Transport::Ws, "b-0").await;
    let mut c = Tab::open(&srv, &board, Transport::Poll, "c-0").await;
    for tab in [&mut a, &mut b, &mut c] {
        assert!(tab.sees(SOON, &["a-0", "b-0", "c-0"]).await.is_some());
    }
    // Over HTTP, to a WebSocket tab.
    let offer = json!({"type": "offer", "sdp": "v=0 ..."});
    let (status, body) = signal(&srv, &board, json!({"from": "a-0", "to": "b-0", "data": offer})).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(b.letter().await, Frame::Signal { from: "a-0".into(), data: offer });
    // Up the WebSocket, to a poll tab (which takes it with its next request).
    let answer = json!({"type": "answer", "sdp": "v=0 ..."});
    let up = json!({"signal": {"from": "b-0", "to": "c-0", "data": answer}}).to_string();
    b.ws.as_mut().unwrap().send(Message::Text(up.into())).await.unwrap();
    assert_eq!(c.letter().await, Frame::Signal { from: "b-0".into(), data: answer });
    // A relayed cursor reaches every tab but its sender's.
    let (status, _) = signal(&srv, &board, json!({"from": "c-0", "to": "*", "cursor": {"x": 0.25, "y": 0.75}})).await;
    assert_eq!(status, 202);
    let cursor = Frame::Cursor { from: "c-0".into(), x: 0.25, y: 0.75 };
    assert_eq!(a.letter().await, cursor);
    // What one relayed move costs, against the same move over a data channel.
    let body = json!({"from": "c-0", "to": "*", "cursor": {"x": 0.25, "y": 0.75}}).to_string();
    let p2p = serde_json::to_string(&board_core::presence::Cursor { x: 0.25, y: 0.75 }).unwrap();
    println!(
        "a cursor move: relayed, a {}-byte POST body up and a {}-byte frame down to each other tab; p2p, a {}-byte message to each peer",
        body.len(),
        cursor.to_json().len(),
        p2p.len()
    );
    assert_eq!(b.letter().await, cursor);
    assert!(c.letters.is_empty() && c.frames().await.iter().all(|f| !matches!(f, Frame::Cursor { .. })));

    // Refusals: each a JSON error that delivers nothing.
    let refused = [
        (json!({"from": "a-0", "to": "nobody", "data": {}}), 404, "an addressee not on the board"),
        (json!({"from": "ghost", "to": "b-0", "data": {}}), 404, "a sender not on the board"),
        (json!({"from": "a-0", "to": "b-0"}), 400, "neither data nor cursor"),
        (json!({"from": "a-0", "to": "b-0", "cursor": {"x": 0.5, "y": 0.5}}), 400, "a cursor for one tab"),
        (json!({"from": "a-0", "to": "*", "cursor": {"x": 1.5, "y": 0.5}}), 422, "a cursor off the board"),
        (json!({"from": "a b", "to": "b-0", "data": {}}), 400, "an id that is not URL-safe"),
        (json!({"from": "a-0", "to": "b-0", "data": {}, "extra": 1}), 400, "an unknown field"),
        (json!({"from": "a-0", "to": "b-0", "data": "x".repeat(70 * 1024)}), 413, "over 64 KiB"),
    ];
    for (body, status, why) in refused {
        let (got, answer) = signal(&srv, &board, body).await;
        assert_eq!(got, status, "{why}: {answer}");
        assert!(answer["error"].is_string(), "{why}: a JSON error");
    }
    let r = srv.http.post(srv.url(&format!("/api/boards/{board}/signal"))).body("{}").send().await.unwrap();
    assert_eq!(r.status(), 415, "signals are JSON");
    // Up a WebSocket, a refusal is an error frame.
    let up = json!({"signal": {"from": "b-0", "to": "nobody", "data": {}}}).to_string();
    b.ws.as_mut().unwrap().send(Message::Text(up.into())).await.unwrap();
    let error = loop {
        let frames = b.frames().await;
        if let Some(error) = frames.into_iter().find(|f| matches!(f, Frame::Error { .. })) {
            break error;
        }
    };
    assert!(matches!(error, Frame::Error { status: 404, .. }), "{error:?}");
    assert!(a.letters.is_empty() && b.letters.is_empty() && c.letters.is_empty(), "nothing refused was delivered");

    // Cursors are rate-limited per tab: a flood is refused with Retry-After.
    let mut limited = None;
    for i in 0..100 {
        let x = f64::from(i) / 100.0;
        let r = srv
            .http
            .post(srv.url(&format!("/api/boards/{board}/signal")))
            .json(&json!({"from": "a-0", "to": "*", "cursor": {"x": x, "y": 0.5}}))
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            limited = Some(r.headers().get("retry-after").is_some());
            break;
        }
    }
    assert_eq!(limited, Some(true), "100 cursors at once are limited, with Retry-After");
    // ... while another tab's are not.
    let (status, _) = signal(&srv, &board, json!({"from": "b-0", "to": "*", "cursor": {"x": 0.1, "y": 0.1}})).await;
    assert_eq!(status, 202);
    // A relayed cursor keeps only the latest position per sender for a tab that polls.
    let latest = loop {
        let letter = c.letter().await;
        if matches!(&letter, Frame::Cursor { from, .. } if from == "a-0")
            && c.letters.iter().all(|l| !matches!(l, Frame::Cursor { from, .. } if from == "a-0"))
        {
            break letter;
        }
    };
    assert!(matches!(latest, Frame::Cursor { x, .. } if x > 0.0), "the poll tab got a-0's latest cursor: {latest:?}");
}

/// A private board's presence needs its key like everything else: `404` without.
async fn presence_keeps_the_boards_access_rules(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let r = srv.http.post(srv.url("/api/boards")).json(&json!({"name": "Hidden"})).send().await.unwrap();
    let created: Value = r.json().await.unwrap();
    let (board, read) =
        (created["id"].as_str().unwrap().to_owned(), created["keys"]["read"].as_str().unwrap().to_owned());
    let sse = |key: Option<&str>| {
        let mut req = srv.http.get(srv.url(&format!("/api/boards/{board}/sse?client=r-0&name=Reader")));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        req.send()
    };
    assert_eq!(sse(None).await.unwrap().status(), 404);
    let mut stream = sse(Some(&read)).await.unwrap();
    assert_eq!(stream.status(), 200, "a read key is enough to be present");
    let mut seen = String::new();
    while !seen.contains("\"kind\":\"presence\"") || !seen.contains("r-0") {
        let chunk = tokio::time::timeout(SOON, stream.chunk()).await.expect("a presence frame").unwrap().unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    let body = json!({"from": "r-0", "to": "*", "cursor": {"x": 0.5, "y": 0.5}});
    for path in ["signal", "leave"] {
        let body = if path == "leave" { json!({"client": "r-0"}) } else { body.clone() };
        let url = srv.url(&format!("/api/boards/{board}/{path}"));
        let r = srv.http.post(&url).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path} without the key");
        let r = srv.http.post(&url).bearer_auth("not-a-key").json(&body).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path} with a wrong key");
        let r = srv.http.post(&url).bearer_auth(&read).json(&body).send().await.unwrap();
        assert!(r.status().is_success(), "{path} with the read key: {}", r.status());
    }
}

/// Two replicas: each lists the other's tabs, signals and cursors cross, and a tab that
/// closes on one leaves the other's list within 2 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_crosses_replicas() {
    let redis = common::redis_url();
    let database = common::fresh_postgres_database().await;
    let a = TestServer::replica(&database, &redis, "replica-a").await;
    let b = TestServer::replica(&database, &redis, "replica-b").await;
    let board = a.create_board("across").await;
    let mut on_a = Tab::open(&a, &board, Transport::Sse, "a-0").await;
    let mut on_b = Tab::open(&b, &board, Transport::Ws, "b-0").await;
    let joined = Instant::now();
    assert!(on_a.sees(SOON, &["a-0", "b-0"]).await.is_some(), "replica a lists b's tab");
    assert!(on_b.sees(SOON, &["a-0", "b-0"]).await.is_some(), "replica b lists a's tab");
    println!("both replicas listed both tabs {:?} after the second joined", joined.elapsed());
    let mut poll_b = Tab::open(&b, &board, Transport::Poll, "c-0").await;
    assert!(poll_b.sees(SOON, &["a-0", "b-0", "c-0"]).await.is_some());
    assert!(on_a.sees(SOON, &["a-0", "b-0", "c-0"]).await.is_some(), "a lists the poll tab on b");

    // A signal from a tab on a, posted to b, reaches a tab on a; one posted to a reaches b.
    let (status, answer) = signal(&b, &board, json!({"from": "b-0", "to": "a-0", "data": {"n": 1}})).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(on_a.letter().await, Frame::Signal { from: "b-0".into(), data: json!({"n": 1}) });
    let (status, _) = signal(&a, &board, json!({"from": "a-0", "to": "c-0", "data": {"n": 2}})).await;
    assert_eq!(status, 202);
    assert_eq!(poll_b.letter().await, Frame::Signal { from: "a-0".into(), data: json!({"n": 2}) });
    let (status, _) = signal(&a, &board, json!({"from": "a-0", "to": "*", "cursor": {"x": 0.5, "y": 0.5}})).await;
    assert_eq!(status, 202);
    assert_eq!(on_b.letter().await, Frame::Cursor { from: "a-0".into(), x: 0.5, y: 0.5 });
    let (status, _) = signal(&a, &board, json!({"from": "a-0", "to": "nobody", "data": {}})).await;
    assert_eq!(status, 404, "a client on no replica");

    let closed = Instant::now();
    on_b.close().await;
    assert!(on_a.sees(SOON, &["a-0", "c-0"]).await.is_some(), "b's closed tab still listed on a after 2 s");
    println!("a tab closed on b left a's list {:?} later", closed.elapsed());
}

/// A replica that is SIGKILLed says nothing: the others drop its tabs when its share is
/// not renewed, within 10 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_replicas_tabs_leave_within_ten_seconds() {
    let redis = common::redis_url();
    let database = common::fresh_postgres_database().await;
    let a = TestServer::replica(&database, &redis, "replica-a").await;
    let board = a.create_board("killed").await;
    let mut doomed = common::Replica::spawn(&database, &redis, "replica-doomed", &[]).await;
    let mut on_a = Tab::open(&a, &board, Transport::Sse, "a-0").await;
    let mut reader = reqwest::Client::new()
        .get(format!("{}/api/boards/{board}/sse?client=k-0&name=Doomed", doomed.base))
        .send()
        .await
        .unwrap();
    assert_eq!(reader.status(), 200);
    let _ = reader.chunk().await;
    assert!(on_a.sees(SOON, &["a-0", "k-0"]).await.is_some(), "a lists the tab on the doomed replica");
    let killed = Instant::now();
    doomed.kill();
    let gone = on_a.sees(Duration::from_secs(10), &["a-0"]).await;
    let after = killed.elapsed();
    assert!(gone.is_some(), "the killed replica's tab is still listed 10 s later");
    println!("a SIGKILLed replica's tab left the list after {after:?}");
    drop(reader);
}

/// The page's WebRTC mesh asks which STUN/TURN servers to use: `ICE_SERVERS`, or none.
#[tokio::test]
async fn the_page_learns_its_ice_servers() {
    let plain = TestServer::start(Backend::Sqlite).await;
    let r = plain.http.get(plain.url("/api/ice-servers")).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.json::<Value>().await.unwrap(), json!([]));
    let servers = json!([{"urls": "stun:stun.example.org:3478"}]);
    let configured = TestServer::start_with(Backend::Sqlite, |c| c.ice_servers = servers.to_string()).await;
    let r = configured.http.get(configured.url("/api/ice-servers")).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), servers);
    use clap::Parser;
    let refused = server::config::Config::try_parse_from(["server", "--ice-servers", "{\"urls\":1}"]);
    assert!(refused.is_err(), "ICE_SERVERS must be a JSON array");
    // A standing TURN password would be every visitor's for ever: refused.
    let standing = json!([{"urls": "turn:turn.example.org", "username": "u", "credential": "p"}]).to_string();
    let refused = server::config::Config::try_parse_from(["server", "--ice-servers", standing.as_str()]);
    assert!(refused.unwrap_err().to_string().contains("TURN_SECRET"));

    // With TURN_URLS and TURN_SECRET, each answer carries a credential of its own that
    // expires (the TURN REST API convention), and the answer is never cached.
    let with_turn = TestServer::start_with(Backend::Sqlite, |c| {
        c.ice_servers = servers.to_string();
        c.turn_urls = vec!["turn:turn.example.org:3478".into()];
        c.turn_secret = Some("shared-with-the-turn-server".into());
        c.turn_ttl = 600;
    })
    .await;
    let r = with_turn.http.get(with_turn.url("/api/ice-servers")).send().await.unwrap();
    assert_eq!(r.headers()["cache-control"], "no-store");
    let got: Value = r.json().await.unwrap();
    assert_eq!(got[0], servers[0]);
    let username = got[1]["username"].as_str().unwrap();
    let expiry: u64 = username.split_once(':').unwrap().0.parse().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert!(expiry > now && expiry <= now + 600, "expires within TURN_TTL: {expiry} vs {now}");
    assert_eq!(got[1]["credential"], server::turn::password("shared-with-the-turn-server", username));
    let again: Value =
        with_turn.http.get(with_turn.url("/api/ice-servers")).send().await.unwrap().json().await.unwrap();
    assert_ne!(again[1]["username"], got[1]["username"], "a credential per request");
}

/// A tab whose network vanishes sends nothing, not even a FIN: the server's kernel finds
/// it (keepalive probes, unacknowledged data) and its stream ends, so it leaves the list
/// within 10 s. The vanished network is made real: iptables drops every packet of that one
/// connection.
async fn a_tab_whose_network_drops_leaves_within_ten_seconds(transport: Transport) {
    let srv = TestServer::start(Backend::Sqlite).await;
    let board = srv.create_board("network drop").await;
    let mut watcher = Tab::open(&srv, &board, Transport::Sse, "w-0").await;
    let address = srv.base.trim_start_matches("http://").to_owned();
    let path = format!("/api/boards/{board}/{transport}?client=v-0&name=Victim");
    let tcp = tokio::net::TcpStream::connect(&address).await.unwrap();
    let port = tcp.local_addr().unwrap().port();
    // The victim's connection, held open (and silent) for the rest of the test.
    let _victim: Box<dyn std::any::Any + Send> = match transport {
        Transport::Ws => {
            let url = format!("ws://{address}{path}");
            Box::new(tokio_tungstenite::client_async(url, tcp).await.expect("the socket opens").0)
        }
        _ => {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut tcp = tcp;
            let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\n\r\n");
            tcp.write_all(request.as_bytes()).await.unwrap();
            let mut head = [0u8; 512];
            let n = tcp.read(&mut head).await.unwrap();
            assert!(String::from_utf8_lossy(&head[..n]).starts_with("HTTP/1.1 200"));
            Box::new(tcp)
        }
    };
    assert!(watcher.sees(SOON, &["v-0", "w-0"]).await.is_some(), "the victim joined");
    let server_port: u16 = address.rsplit(':').next().unwrap().parse().unwrap();
    let _blackhole = Blackhole::between(port, server_port);
    let dropped = Instant::now();
    let gone = watcher.sees(Duration::from_secs(10), &["w-0"]).await;
    let after = dropped.elapsed();
    assert!(gone.is_some(), "{transport}: a tab whose network vanished is still listed 10 s later");
    println!("{transport}: a tab whose network vanished left the list after {after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sse_tab_whose_network_drops_leaves_within_ten_seconds() {
    a_tab_whose_network_drops_leaves_within_ten_seconds(Transport::Sse).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_tab_whose_network_drops_leaves_within_ten_seconds() {
    a_tab_whose_network_drops_leaves_within_ten_seconds(Transport::Ws).await;
}

/// Drops every packet of one loopback connection, both ways, while it lives. It needs root
/// and iptables, which the test machines have (`scripts/setup` installs iptables); it
/// fails loudly without them.
struct Blackhole {
    rules: Vec<Vec<String>>,
}

impl Blackhole {
    fn between(a: u16, b: u16) -> Blackhole {
        let rule = |from: u16, to: u16| {
            ["-i", "lo", "-p", "tcp", "--sport", &from.to_string(), "--dport", &to.to_string(), "-j", "DROP"]
                .map(str::to_owned)
                .to_vec()
        };
        let hole = Blackhole { rules: vec![rule(a, b), rule(b, a)] };
        for rule in &hole.rules {
            iptables("-I", rule).unwrap_or_else(|e| panic!("iptables (root) is needed to cut a connection: {e}"));
        }
        hole
    }
}

impl Drop for Blackhole {
    fn drop(&mut self) {
        for rule in &self.rules {
            let _ = iptables("-D", rule);
        }
    }
}

fn iptables(action: &str, rule: &[String]) -> Result<(), String> {
    let status = std::process::Command::new("iptables")
        .arg(action)
        .arg("INPUT")
        .args(rule)
        .status()
        .map_err(|e| e.to_string())?;
    status.success().then_some(()).ok_or_else(|| format!("iptables {action} exited with {status}"))
}

on_both_backends!(
    every_transport_sees_the_others_and_no_seq_is_taken,
    a_closed_tab_leaves_within_two_seconds,
    a_poll_tab_stays_while_it_keeps_asking,
    signals_reach_one_tab_and_cursors_everyone,
    presence_keeps_the_boards_access_rules,
);
