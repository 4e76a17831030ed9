//! One command's trace across two replicas, through each bus: the span tree (parents,
//! links, attributes) read from an in-process exporter both replicas write to, and the
//! trace id in the data frames every subscriber receives.

mod common;

use std::sync::Arc;
use std::time::Duration;

use board_core::patterns::{Frame, PatternKind};
use board_core::protocol::Transport;
use common::TestServer;
use futures::{SinkExt, StreamExt};
use opentelemetry::trace::{SpanKind, Status};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};
use serde_json::json;
use server::telemetry::{MakeTracer, Settings, Telemetry};
use tokio_tungstenite::tungstenite::Message;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER: &str = "00f067aa0ba902b7";

fn traceparent(trace: &str, sampled: bool) -> String {
    format!("00-{trace}-{CALLER}-0{}", u8::from(sampled))
}

/// `POST .../commands` on `srv` with `body`, under a sampled `traceparent` of `trace`;
/// returns the status.
async fn traced_command(srv: &TestServer, board: &str, trace: &str, body: serde_json::Value) -> u16 {
    srv.http
        .post(srv.url(&format!("/api/boards/{board}/commands")))
        .header("traceparent", traceparent(trace, true))
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Replicas `a` and `b` on `bus` (a fresh Postgres database is their store), both
/// exporting to `spans`, sampling nothing that comes without a `traceparent`.
async fn traced_pair(bus: Option<&str>, spans: &InMemorySpanExporter) -> (TestServer, TestServer) {
    let database = common::fresh_postgres_database().await;
    let bus = bus.map_or_else(|| database.clone(), str::to_owned);
    let mut replicas = Vec::new();
    for name in ["replica-a", "replica-b"] {
        let spans = spans.clone();
        let tracer = MakeTracer(Arc::new(move |replica, system| {
            Telemetry::with_exporter(spans.clone(), &Settings::default(), replica, system)
        }));
        replicas.push(TestServer::replica_with(&database, &bus, name, |config| config.tracer = Some(tracer)).await);
    }
    let b = replicas.pop().unwrap();
    (replicas.pop().unwrap(), b)
}

/// The spans of `trace`, once `count` have ended (the fan-out batches end as their
/// subscribers take the change).
async fn spans_of(spans: &InMemorySpanExporter, trace: &str, count: usize) -> Vec<SpanData> {
    for _ in 0..200 {
        let of_trace: Vec<SpanData> = spans
            .get_finished_spans()
            .unwrap()
            .into_iter()
            .filter(|span| span.span_context.trace_id().to_string() == trace)
            .collect();
        if of_trace.len() >= count {
            return of_trace;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let names: Vec<_> = spans.get_finished_spans().unwrap().into_iter().map(|s| s.name).collect();
    panic!("{count} spans of {trace} did not end; all: {names:?}");
}

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| kv.value.as_str().into_owned())
}

/// The one span named `name` that `replica` made.
fn one<'s>(spans: &'s [SpanData], name: &str, replica: Option<&str>) -> &'s SpanData {
    let found: Vec<_> = spans
        .iter()
        .filter(|span| span.name == name)
        .filter(|span| replica.is_none_or(|r| attribute(span, "board.replica").as_deref() == Some(r)))
        .collect();
    assert_eq!(found.len(), 1, "one {name} on {replica:?}: {found:#?}");
    found[0]
}

/// The next data frame a subscriber receives.
async fn next_change(sub: &mut common::Subscriber, applied: u64) -> Frame {
    loop {
        if let Some(frame) = sub.next_batch(applied).await.into_iter().find(|f| f.seq().is_some()) {
            return frame;
        }
    }
}

/// The whole tree on `bus`: the command under the caller's span, its commit and publish
/// under it, a receive on each replica under the publish, each replica's fan-out batch
/// under its receive and linked to the publish; the attributes each span carries.
async fn one_command_two_replicas(bus: Option<&str>, system: &str) {
    let spans = InMemorySpanExporter::default();
    let (a, b) = traced_pair(bus, &spans).await;
    let board = a.create_board("traced").await;
    let mut on_a = a.subscribe(&board, Transport::Sse, PatternKind::PushOps, 0).await;
    let mut on_b = b.subscribe(&board, Transport::Ws, PatternKind::EventDiff, 0).await;
    assert_eq!(traced_command(&a, &board, TRACE, json!({"type": "add_todo", "title": "followed"})).await, 200);
    for sub in [&mut on_a, &mut on_b] {
        let frame = next_change(sub, 0).await;
        assert_eq!(frame.trace(), Some(TRACE), "every data frame of the change names its trace: {frame:?}");
    }

    let all = spans_of(&spans, TRACE, 7).await;
    let command = one(&all, "command", Some("replica-a"));
    assert_eq!(command.span_kind, SpanKind::Server);
    assert_eq!(command.parent_span_id.to_string(), CALLER, "the command continues the caller's span");
    assert!(command.parent_span_is_remote);
    assert_eq!(attribute(command, "board.id").as_deref(), Some(board.as_str()));
    assert_eq!(attribute(command, "board.command").as_deref(), Some("add_todo"));
    assert_eq!(attribute(command, "board.transport").as_deref(), Some("http"));
    assert_eq!(attribute(command, "board.seq").as_deref(), Some("1"));
    let commit = one(&all, "commit", None);
    assert_eq!(commit.parent_span_id, command.span_context.span_id());
    assert_eq!(attribute(commit, "board.seq").as_deref(), Some("1"));
    let publish = one(&all, "publish board", None);
    assert_eq!(publish.span_kind, SpanKind::Producer);
    assert_eq!(publish.parent_span_id, command.span_context.span_id());
    assert_eq!(attribute(publish, "messaging.system").as_deref(), Some(system));
    assert!(commit.end_time <= publish.start_time, "published after the commit");
    for replica in ["replica-a", "replica-b"] {
        let receive = one(&all, "receive board", Some(replica));
        assert_eq!(receive.span_kind, SpanKind::Consumer);
        assert_eq!(receive.parent_span_id, publish.span_context.span_id(), "{replica} receives under the publish");
        assert_eq!(attribute(receive, "messaging.system").as_deref(), Some(system));
        assert_eq!(attribute(receive, "messaging.operation.type").as_deref(), Some("receive"));
        assert_eq!(attribute(receive, "board.seq").as_deref(), Some("1"));
        let process = one(&all, "process board", Some(replica));
        assert_eq!(process.parent_span_id, receive.span_context.span_id(), "{replica}'s fan-out under its receive");
        let links: Vec<_> = process.links.iter().map(|link| link.span_context.span_id()).collect();
        assert_eq!(links, vec![publish.span_context.span_id()], "{replica}'s fan-out links the message it sends on");
        assert_eq!(attribute(process, "messaging.batch.message_count").as_deref(), Some("1"), "one subscriber here");
        assert_eq!(attribute(process, "board.untaken"), None, "and it took the change");
    }
    assert_eq!(all.len(), 7, "nothing else: {all:#?}");

    // The waterfall on b: its own hops, and those a shared over the bus.
    let hops = hops_within(&b, &board, TRACE, 7).await;
    let names: Vec<(&str, &str)> = hops.iter().map(|h| (h.name.as_str(), h.replica.as_str())).collect();
    for hop in [
        ("command", "replica-a"),
        ("commit", ""),
        ("publish board", ""),
        ("receive board", "replica-a"),
        ("receive board", "replica-b"),
        ("process board", "replica-a"),
        ("process board", "replica-b"),
    ] {
        assert!(names.iter().any(|(n, r)| *n == hop.0 && (hop.1.is_empty() || *r == hop.1)), "{hop:?} in {names:?}");
    }
    assert!(hops.windows(2).all(|w| w[0].start <= w[1].start), "earliest first");
    // The tab on b reports its apply: the trace's last hop, under b's fan-out.
    let now = unix_ms();
    let report = json!({"seq": 1, "replica": "replica-b", "received": now - 3.0, "applied": now - 1.0, "transport": "ws", "pattern": "event-diff"});
    let r =
        b.http.post(b.url(&format!("/api/boards/{board}/traces/{TRACE}/apply"))).json(&report).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let hops = hops_within(&a, &board, TRACE, 8).await;
    let apply = hops.iter().find(|h| h.name == "apply").expect("a knows the apply too");
    let receive_b = hops.iter().find(|h| h.name == "receive board" && h.replica == "replica-b").unwrap();
    assert_eq!(apply.parent, receive_b.span, "under the replica that brought the frame");
    assert_eq!(apply.via.as_deref(), Some("ws · event-diff"));
    assert!((apply.end - apply.start - 2.0).abs() < 0.01, "the tab's own times: {apply:?}");
    a.stop().await;
    b.stop().await;
}

fn unix_ms() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64() * 1000.0
}

/// The waterfall's hops of `trace` on `srv`, once it knows at least `count`.
async fn hops_within(srv: &TestServer, board: &str, trace: &str, count: usize) -> Vec<board_core::api::Hop> {
    let mut last = Vec::new();
    for _ in 0..200 {
        let r = srv.http.get(srv.url(&format!("/api/boards/{board}/traces/{trace}"))).send().await.unwrap();
        if r.status() == 200 {
            last = r.json::<board_core::api::TraceHops>().await.unwrap().hops;
            if last.len() >= count {
                return last;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{count} hops of {trace} never came: {last:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_command_is_one_trace_across_replicas_over_redis() {
    one_command_two_replicas(Some(&common::redis_url()), "redis").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_command_is_one_trace_across_replicas_over_nats() {
    let nats = std::env::var("TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    one_command_two_replicas(Some(&nats), "nats").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_command_is_one_trace_across_replicas_over_postgres() {
    one_command_two_replicas(None, "postgresql").await;
}

/// A sender that follows a trace but does not record it (sampled flag off) still gets its
/// trace id in the frames, and nothing is recorded; a command without a `traceparent` is
/// neither traced nor tagged when nothing is sampled; a broken `traceparent` is no trace
/// (and no refusal); a refused command's span says why. Over a WebSocket too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_is_recorded_follows_the_sender_and_the_settings() {
    let spans = InMemorySpanExporter::default();
    let (a, b) = traced_pair(Some(&common::redis_url()), &spans).await;
    let board = a.create_board("quiet").await;
    let mut sub = a.subscribe(&board, Transport::Sse, PatternKind::PushEvents, 0).await;
    let post = |traceparent: Option<String>, title: &str| {
        let mut request = a
            .http
            .post(a.url(&format!("/api/boards/{board}/commands")))
            .json(&json!({"type": "add_todo", "title": title}));
        if let Some(traceparent) = traceparent {
            request = request.header("traceparent", traceparent);
        }
        request.send()
    };
    let unsampled = "0af7651916cd43dd8448eb211c80319c";
    assert_eq!(post(Some(traceparent(unsampled, false)), "one").await.unwrap().status(), 200);
    assert_eq!(next_change(&mut sub, 0).await.trace(), Some(unsampled));
    assert_eq!(post(None, "two").await.unwrap().status(), 200);
    assert_eq!(next_change(&mut sub, 1).await.trace(), None);
    assert_eq!(post(Some("00-nonsense".into()), "three").await.unwrap().status(), 200);
    assert_eq!(next_change(&mut sub, 2).await.trace(), None);

    // A refusal (no such todo): the command's span is marked with the status it got.
    let refused = "11111111111111111111111111111111";
    let response = a
        .http
        .post(a.url(&format!("/api/boards/{board}/commands")))
        .header("traceparent", traceparent(refused, true))
        .json(&json!({"type": "rename_todo", "id": 999, "title": "nobody"}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    assert!((400..500).contains(&status), "{status}");
    let denied = spans_of(&spans, refused, 2).await;
    let command = one(&denied, "command", None);
    assert_eq!(attribute(command, "error.type"), Some(status.to_string()));
    assert!(matches!(command.status, Status::Error { .. }));
    assert_eq!(attribute(one(&denied, "commit", None), "board.seq"), None, "the commit was tried, and made nothing");
    assert_eq!(denied.len(), 2, "nothing was published: {denied:#?}");

    // Up a socket: `traceparent` beside the command.
    let socketed = "22222222222222222222222222222222";
    let url = format!("{}/api/boards/{board}/ws?pattern=push-ops", a.base.replace("http://", "ws://"));
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let message = json!({"request_id": "r1", "traceparent": traceparent(socketed, true), "command": {"type": "add_todo", "title": "four"}});
    ws.send(Message::Text(message.to_string().into())).await.unwrap();
    let answer = loop {
        let Message::Text(text) = ws.next().await.unwrap().unwrap() else { continue };
        let frame: serde_json::Value = serde_json::from_str(&text).unwrap();
        if frame["kind"] == "ack" || frame["kind"] == "error" {
            break frame;
        }
    };
    assert_eq!(answer["kind"], "ack", "{answer}");
    assert_eq!(next_change(&mut sub, 3).await.trace(), Some(socketed));
    let over_socket = spans_of(&spans, socketed, 5).await;
    assert_eq!(attribute(one(&over_socket, "command", None), "board.transport").as_deref(), Some("websocket"));

    let recorded: Vec<String> =
        spans.get_finished_spans().unwrap().iter().map(|s| s.span_context.trace_id().to_string()).collect();
    assert!(!recorded.iter().any(|t| t == unsampled), "an unsampled trace is followed, not recorded");
    assert!(recorded.iter().all(|t| t == refused || t == socketed), "nothing else is recorded: {recorded:?}");
    a.stop().await;
    b.stop().await;
}

/// With `OTEL_EXPORTER_OTLP_ENDPOINT` set, the spans reach a collector over OTLP/HTTP (a
/// receiver of the test's own, speaking JSON), named after this service and replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_are_exported_over_otlp_to_a_collector() {
    let bodies = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let received = bodies.clone();
    let collector = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let received = received.clone();
            async move {
                assert_eq!(headers["content-type"], "application/json");
                received.lock().unwrap().push(body);
                "{}"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, collector).await.unwrap() });

    let srv = TestServer::start_with(common::Backend::Sqlite, |config| {
        config.otel_exporter_otlp_endpoint = Some(endpoint);
        config.otel_exporter_otlp_protocol = "http/json".into();
    })
    .await;
    let board = srv.create_board("exported").await;
    assert_eq!(traced_command(&srv, &board, TRACE, json!({"type": "add_todo", "title": "sent on"})).await, 200);
    // The batch exporter sends every 5 s (OTEL_BSP_SCHEDULE_DELAY's default).
    let mut waited = 0;
    while !bodies.lock().unwrap().iter().any(|body| body.contains("process board")) && waited < 150 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    srv.stop().await;

    let bodies = bodies.lock().unwrap().join("\n");
    assert!(bodies.contains(TRACE), "the collector got the trace: {bodies}");
    for name in ["\"command\"", "\"commit\"", "\"publish board\"", "\"receive board\"", "\"process board\""] {
        assert!(bodies.contains(name), "{name} exported: {bodies}");
    }
    assert!(bodies.contains("realtime-board") && bodies.contains("test-replica"), "service and replica: {bodies}");
}

/// The waterfall's routes refuse what they cannot use and cost nothing unbounded: a trace
/// id that is not one (`400`), one this board has not (`404`, even if another board has
/// it), a report whose times are not near now (`422`) or whose fields are wrong (`400`),
/// more applies than a trace keeps (`429`); a private board's traces need its key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_waterfalls_routes_refuse_what_they_cannot_use() {
    let spans = InMemorySpanExporter::default();
    let exporter = spans.clone();
    let srv = TestServer::start_with(common::Backend::Sqlite, |config| {
        config.tracer = Some(MakeTracer(Arc::new(move |replica, system| {
            Telemetry::with_exporter(exporter.clone(), &Settings::default(), replica, system)
        })));
        config.commands_per_minute = 10_000;
    })
    .await;
    let board = srv.create_board("refusals").await;
    let other = srv.create_board("other").await;
    let _sub = srv.subscribe(&board, Transport::Sse, PatternKind::PushOps, 0).await;
    assert_eq!(traced_command(&srv, &board, TRACE, json!({"type": "add_todo", "title": "watched"})).await, 200);
    hops_within(&srv, &board, TRACE, 5).await;
    let get = |board: &str, trace: &str| srv.http.get(srv.url(&format!("/api/boards/{board}/traces/{trace}"))).send();
    assert_eq!(get(&board, "nonsense").await.unwrap().status(), 400);
    assert_eq!(get(&board, &TRACE.to_uppercase()).await.unwrap().status(), 400);
    assert_eq!(get(&board, &"0".repeat(32)).await.unwrap().status(), 400);
    assert_eq!(get(&board, &"a".repeat(32)).await.unwrap().status(), 404);
    assert_eq!(get(&other, TRACE).await.unwrap().status(), 404, "another board's trace shows nothing");

    let apply = |body: serde_json::Value| {
        srv.http.post(srv.url(&format!("/api/boards/{board}/traces/{TRACE}/apply"))).json(&body).send()
    };
    let now = unix_ms();
    let report = |received: f64, applied: f64| json!({"seq": 1, "replica": "test-replica", "received": received, "applied": applied, "transport": "sse", "pattern": "push-ops"});
    assert_eq!(apply(report(now - 120_000.0, now)).await.unwrap().status(), 422, "received two minutes ago");
    assert_eq!(apply(report(now, now - 5.0)).await.unwrap().status(), 422, "applied before it arrived");
    let mut wrong = report(now - 2.0, now);
    wrong["transport"] = json!("pigeon");
    assert_eq!(apply(wrong).await.unwrap().status(), 400);
    let mut elsewhere = report(now - 2.0, now);
    elsewhere["replica"] = json!("replica-z");
    assert_eq!(apply(elsewhere).await.unwrap().status(), 404, "no receive on that replica");
    for n in 0..16 {
        assert_eq!(apply(report(now - 2.0, now)).await.unwrap().status(), 204, "apply {n}");
    }
    let full = apply(report(now - 2.0, now)).await.unwrap();
    assert_eq!(full.status(), 429, "a trace keeps 16 applies");
    let hops = hops_within(&srv, &board, TRACE, 5).await;
    assert_eq!(hops.iter().filter(|h| h.name == "apply").count(), 16);

    // A private board's traces are its readers' only.
    let created: serde_json::Value = srv
        .http
        .post(srv.url("/api/boards"))
        .json(&json!({"name": "secret", "visibility": "private"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (private, write, read) = (
        created["id"].as_str().unwrap().to_owned(),
        created["keys"]["write"].as_str().unwrap().to_owned(),
        created["keys"]["read"].as_str().unwrap().to_owned(),
    );
    let secret = "33333333333333333333333333333333";
    let r = srv
        .http
        .post(srv.url(&format!("/api/boards/{private}/commands")))
        .bearer_auth(&write)
        .header("traceparent", traceparent(secret, true))
        .json(&json!({"type": "add_todo", "title": "hidden"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    spans_of(&spans, secret, 5).await;
    let url = srv.url(&format!("/api/boards/{private}/traces/{secret}"));
    assert_eq!(srv.http.get(&url).send().await.unwrap().status(), 404, "no key: as if no board");
    assert_eq!(srv.http.get(&url).bearer_auth(&read).send().await.unwrap().status(), 200, "a reader's key opens it");
    let report = json!({"seq": 1, "replica": "test-replica", "received": now - 2.0, "applied": now, "transport": "sse", "pattern": "push-ops"});
    let r = srv.http.post(format!("{url}/apply")).json(&report).send().await.unwrap();
    assert_eq!(r.status(), 404, "no key, no report");
    srv.stop().await;
}

/// The worked investigation of docs/observability.md: a replica that holds its change
/// notices back (the fault lab's delay, here 600 ms) shows in the waterfall as that
/// replica's fan-out batch taking the time, every hop before it quick.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_change_shows_which_hop_took_the_time() {
    let srv = TestServer::start_with(common::Backend::Sqlite, |config| config.faults = true).await;
    let board = srv.create_board("late").await;
    let _sub = srv.subscribe(&board, Transport::Sse, PatternKind::PushOps, 0).await;
    let r = srv
        .http
        .post(srv.url(&format!("/api/lab?board={board}")))
        .bearer_auth(srv.owner(&board))
        .json(&json!({"delay_notices_ms": 600}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(traced_command(&srv, &board, TRACE, json!({"type": "add_todo", "title": "late"})).await, 200);
    let hops = hops_within(&srv, &board, TRACE, 5).await;
    let took = |name: &str| {
        let hop = hops.iter().find(|h| h.name == name).unwrap_or_else(|| panic!("{name} in {hops:#?}"));
        hop.end - hop.start
    };
    assert!(took("process board") >= 590.0, "the fan-out held the notice: {hops:#?}");
    for quick in ["commit", "publish board", "receive board"] {
        assert!(took(quick) < 300.0, "{quick} was not the slow hop: {hops:#?}");
    }
    srv.stop().await;
}
