//! The browser side of a subscription (compiled for `hydrate` only).
//!
//! The transports themselves are thin links in [`super::link`]; this file is the one
//! mechanism behind them. One connection at a time, tagged with a generation number so that events from a
//! connection we already replaced are ignored. Frames go into one queue that a single
//! task drains in order; that task is the only writer of the state, so a backfill or a
//! pull can never interleave with a live frame. On any error the connection is closed
//! and reopened after a jittered, growing delay with `since` = the applied seq, so the
//! server sends exactly what is missing.

use std::collections::VecDeque;

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::backoff::Backoff;
use super::client::{BoardClient, Conn};
use super::http::{self, HttpError};
use super::link::Link;
use super::step::{step, Step};
use super::wire::WireEntry;
use crate::api::Position;
use crate::domain::Command;
use crate::patterns::Frame;

/// The engine's non-reactive state: browser objects and bookkeeping.
#[derive(Default)]
pub struct Runtime {
    /// Bumped on every (re)connect; callbacks of older connections check it and return.
    generation: u64,
    /// The open connection of the current transport.
    link: Option<Link>,
    on_online: Option<Closure<dyn FnMut(web_sys::Event)>>,
    retry: Option<gloo_timers::callback::Timeout>,
    backoff: Backoff,
    queue: VecDeque<Frame>,
    draining: bool,
    /// Commands sent up a WebSocket and not yet acked: resent over HTTP (same key) if the
    /// socket drops first.
    pending: Vec<(String, Command, String)>,
    /// The board's epoch, once a `hello` or a poll answer told it: sent with our seq, so a
    /// server whose board is another incarnation tells us to reset (`api::Position`).
    epoch: Option<String>,
}

impl Runtime {
    fn close(&mut self) {
        if let Some(link) = self.link.take() {
            link.close();
        }
        self.retry = None;
    }
}

pub fn start(client: BoardClient) {
    // Coming back online is the best moment to retry: skip the remaining backoff.
    let on_online = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
        client.runtime.update_value(|r| r.backoff.reset());
        reconnect_now(client);
    });
    if let Some(window) = web_sys::window() {
        let _ = window.add_event_listener_with_callback("online", on_online.as_ref().unchecked_ref());
    }
    client.runtime.update_value(|r| r.on_online = Some(on_online));
    connect(client);
    client.running.set(true);
}

pub fn reconnect_now(client: BoardClient) {
    connect(client);
}

/// Opens the current transport from the applied seq, replacing any open connection.
fn connect(client: BoardClient) {
    let generation = client.runtime.try_update_value(|r| {
        r.close();
        r.generation += 1;
        r.generation
    });
    let Some(generation) = generation else { return };
    client.conn.set(Conn::Connecting);
    let from = position(client);
    let link = Link::open(client, generation, client.transport.get_untracked(), client.pattern.get_untracked(), from);
    match link {
        Some(link) => client.runtime.update_value(|r| r.link = Some(link)),
        None => failed(client, generation),
    }
}

/// Is `generation` still the current connection?
/// Where this client is: the seq it holds, in the epoch it knows.
pub(super) fn position(client: BoardClient) -> Position {
    Position {
        seq: client.state.with_untracked(|s| s.seq),
        epoch: client.runtime.try_with_value(|r| r.epoch.clone()).flatten(),
    }
}

/// The server told the board's epoch (in `hello` or a poll answer).
pub(super) fn saw_epoch(client: BoardClient, epoch: &str) {
    if !epoch.is_empty() {
        client.runtime.update_value(|r| r.epoch = Some(epoch.to_owned()));
    }
}

pub(super) fn current(client: BoardClient, generation: u64) -> bool {
    client.runtime.try_with_value(|r| r.generation == generation).unwrap_or(false)
}

/// A link reports that it is connected.
pub(super) fn opened(client: BoardClient, generation: u64) {
    if current(client, generation) {
        client.conn.set(Conn::Live);
        client.runtime.update_value(|r| r.backoff.reset());
    }
}

/// The server says this page's key no longer opens the board (a `revoked` frame, WebSocket
/// close 4403, or 404 on a poll): stop for good, retrying cannot help.
pub(super) fn revoked(client: BoardClient, generation: u64) {
    if !current(client, generation) {
        return;
    }
    client.runtime.update_value(|r| {
        r.close();
        r.generation += 1;
        r.pending.clear();
    });
    client.conn.set(Conn::Revoked);
    client.can_write.set(false);
    client
        .notice
        .set(Some("Access to this board was withdrawn: its keys were changed. Ask its owner for a new link.".into()));
}

/// A link reports that it failed: close it and retry after a jittered, growing delay.
pub(super) fn failed(client: BoardClient, generation: u64) {
    if !current(client, generation) {
        return;
    }
    let resend = client.runtime.try_update_value(|r| {
        r.close();
        std::mem::take(&mut r.pending)
    });
    client.conn.set(Conn::Offline);
    // Commands that went up a socket that died may or may not have committed: the same
    // Idempotency-Key over HTTP makes the retry safe either way.
    for (_, command, key) in resend.unwrap_or_default() {
        post(client, command, key);
    }
    let delay = client.runtime.try_update_value(|r| r.backoff.next_delay_ms(js_sys::Math::random())).unwrap_or(1000);
    let timer = gloo_timers::callback::Timeout::new(delay, move || {
        if current(client, generation) {
            connect(client);
        }
    });
    client.runtime.update_value(|r| r.retry = Some(timer));
}

/// A link received one frame's JSON.
pub(super) fn deliver_text(client: BoardClient, generation: u64, text: &str) {
    match serde_json::from_str::<Frame>(text) {
        Ok(frame) => deliver(client, generation, frame, text.len()),
        Err(err) => leptos::logging::warn!("ignoring a frame that does not parse: {err}"),
    }
}

/// A link received a frame (`bytes`: its size on the wire).
pub(super) fn deliver(client: BoardClient, generation: u64, frame: Frame, bytes: usize) {
    if !current(client, generation) {
        return;
    }
    client.wire.update(|w| w.record(entry(&frame, bytes)));
    match &frame {
        Frame::Hello { replica, epoch, .. } => {
            saw_epoch(client, epoch);
            client.replica.set(replica.clone());
            client.conn.set(Conn::Live);
        }
        Frame::Ack { request_id, .. } => {
            client.runtime.update_value(|r| r.pending.retain(|(id, ..)| Some(id) != request_id.as_ref()));
            client.notice.set(None);
        }
        Frame::Error { request_id, error, .. } => {
            client.runtime.update_value(|r| r.pending.retain(|(id, ..)| Some(id) != request_id.as_ref()));
            client.notice.set(Some(error.clone()));
        }
        Frame::Revoked {} => return revoked(client, generation),
        _ => {}
    }
    let start_drain = client
        .runtime
        .try_update_value(|r| {
            r.queue.push_back(frame);
            !std::mem::replace(&mut r.draining, true)
        })
        .unwrap_or(false);
    if start_drain {
        spawn_local(drain(client));
    }
}

fn entry(frame: &Frame, bytes: usize) -> WireEntry {
    let summary = match frame {
        Frame::Event { event, .. } | Frame::EventDiff { event, .. } => event.describe(),
        Frame::Ops { ops, .. } => format!("{} op(s)", ops.len()),
        Frame::State { state, .. } => format!("{} todos, {} sprints", state.todos.len(), state.sprints.len()),
        Frame::Hello { replica, head, .. } => format!("replica {replica}, head {head}"),
        Frame::Heartbeat { head } | Frame::Reset { head } => format!("head {head}"),
        Frame::Poke { .. } => "pull needed".into(),
        Frame::Ack { seq, .. } => format!("command committed at seq {seq}"),
        Frame::Error { error, .. } => error.clone(),
        Frame::Revoked {} => "access withdrawn".into(),
    };
    WireEntry {
        kind: frame.kind(),
        seq: frame.seq(),
        bytes,
        latency_ms: frame.at().filter(|at| *at > 0).map(|at| js_sys::Date::now() as i64 - at),
        summary,
    }
}

/// The single writer of the state: applies queued frames in order.
async fn drain(client: BoardClient) {
    loop {
        let Some(frame) = client.runtime.try_update_value(|r| r.queue.pop_front()).flatten() else {
            client.runtime.update_value(|r| r.draining = false);
            return;
        };
        let pattern = client.pattern.get_untracked();
        let mut state = client.state.get_untracked();
        match step(&mut state, pattern, &frame) {
            Ok(Step::Applied) => client.state.set(state),
            Ok(Step::Skip) => {}
            Ok(Step::Backfill { since }) => backfill(client, since).await,
            Ok(Step::Pull) => {
                // Coalesce: pokes already queued are answered by this one pull. A small
                // random delay spreads the pulls of many clients poked at once.
                gloo_timers::future::TimeoutFuture::new((js_sys::Math::random() * 50.0) as u32).await;
                client.runtime.update_value(|r| r.queue.retain(|f| !matches!(f, Frame::Poke { .. })));
                pull(client).await;
            }
            Ok(Step::Snapshot) => snapshot(client).await,
            Err(err) => {
                leptos::logging::warn!("cannot apply a frame ({err}); taking a fresh snapshot");
                snapshot(client).await;
            }
        }
    }
}

/// Fetches the frames after `since` from the log and applies them.
async fn backfill(client: BoardClient, mut since: u64) {
    loop {
        client.wire.update(|w| w.requests += 1);
        let pattern = client.pattern.get_untracked();
        let from = Position { seq: since, ..position(client) };
        match http::changes(&client.board_id(), &from, pattern).await {
            Ok(page) => {
                let mut state = client.state.get_untracked();
                for frame in &page.frames {
                    if !matches!(step(&mut state, pattern, frame), Ok(Step::Applied | Step::Skip)) {
                        break;
                    }
                }
                let progressed = state.seq > since;
                since = state.seq;
                client.state.set(state);
                if since >= page.head || !progressed {
                    return;
                }
            }
            Err(HttpError::Status { status: 410, .. }) => return snapshot(client).await,
            Err(err) => {
                // The stream will notice too; reconnecting catches up from the applied seq.
                leptos::logging::warn!("backfill failed: {}", err.message());
                return reconnect_now(client);
            }
        }
    }
}

/// Pulls the state (`If-None-Match` our seq, in our epoch): `304` costs the server nothing.
async fn pull(client: BoardClient) {
    client.wire.update(|w| w.requests += 1);
    let have = position(client);
    match http::state(&client.board_id(), Some(&have)).await {
        Ok(Some(state)) if state.seq >= client.state.with_untracked(|s| s.seq) => client.state.set(state),
        Ok(_) => {}
        Err(err) => leptos::logging::warn!("pull failed: {}", err.message()),
    }
}

/// Takes the board as it is now, whatever we hold: after `reset`, our seq may be from
/// another epoch, so neither a `304` nor a lower seq means anything.
async fn snapshot(client: BoardClient) {
    client.wire.update(|w| w.requests += 1);
    match http::state(&client.board_id(), None).await {
        Ok(Some(state)) => client.state.set(state),
        Ok(None) => {}
        Err(err) => leptos::logging::warn!("snapshot failed: {}", err.message()),
    }
}

/// Sends a command with a fresh Idempotency-Key: up the WebSocket when that is the open
/// transport (answered by an `ack` or `error` frame), else by `POST`.
pub fn send(client: BoardClient, command: Command) {
    let key = format!("{:016x}{:016x}", random_u64(), random_u64());
    let request_id = format!("{:08x}", random_u64() as u32);
    let sent = client
        .runtime
        .try_update_value(|r| {
            let sent = r.link.as_ref().is_some_and(|link| link.send_command(&request_id, &key, &command));
            if sent {
                r.pending.push((request_id.clone(), command.clone(), key.clone()));
            }
            sent
        })
        .unwrap_or(false);
    if !sent {
        post(client, command, key);
    }
}

/// `POST /commands`, retried with the same key while the server is unreachable, so a
/// command applies at most once however often it is sent.
fn post(client: BoardClient, command: Command, key: String) {
    spawn_local(async move {
        let mut backoff = Backoff::default();
        for _ in 0..6 {
            client.wire.update(|w| w.requests += 1);
            match http::command(&client.board_id(), &command, &key).await {
                Ok(_) => {
                    client.notice.set(None);
                    return;
                }
                Err(err) if err.retryable() => {
                    let delay = backoff.next_delay_ms(js_sys::Math::random());
                    gloo_timers::future::TimeoutFuture::new(delay).await;
                }
                Err(err) => {
                    client.notice.set(Some(err.message()));
                    return;
                }
            }
        }
        client.notice.set(Some("the server cannot be reached; your change was not saved".into()));
    });
}

fn random_u64() -> u64 {
    (js_sys::Math::random() * (u64::MAX as f64)) as u64
}
