//! Transports: thin adapters that carry the frames of [`crate::stream`] to a client. Each
//! only translates: query parameters in, its own framing out. None of them knows how a
//! frame is built or how gaps are repaired.
//!
//! * [`poll`]: one request, the frames after `since` at once, `304` when there are none.
//! * [`long_poll`]: the same, but held until there is something (or the timeout).
//! * [`sse`]: `text/event-stream`, `id:` = seq, `Last-Event-ID` resumes.
//! * [`ws`]: frames down, commands up, pings, RFC 6455 close codes.
//!
//! Every one of them opens its stream the same way, [`StreamParams::open`]: the gate's grant
//! in (the handler took a `Reader`, so resume is checked like the first connect), a stream
//! slot of the client's taken for as long as the stream lives, its tab on the presence
//! list. The [`Subscription`] it returns is forwarded as a stream ([`Subscription::frames`],
//! which ends when the key it was opened with is revoked) or taken as one
//! [`Subscription::batch`] by poll and long-poll: the same catch-up and gap repair, cut off
//! when nothing more is ready.

pub mod long_poll;
pub mod poll;
pub mod sse;
pub mod ws;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use bytes::{BufMut, Bytes, BytesMut};
use futures::{FutureExt, Stream, StreamExt};
use serde::Deserialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use board_core::api::Position;
use board_core::patterns::PatternKind;
use board_core::presence::{check_secret, Identity};
use board_core::protocol::Transport;

use crate::access::{self, Grant};
use crate::caching;
use crate::error::AppError;
use crate::limits::Slot;
use crate::presence::{Here, Stay, TabInfo, Wants};
use crate::state::AppState;
use crate::stream::{self, Frames, Outgoing};

/// The query every stream endpoint takes, as it arrives.
#[derive(Debug, Deserialize)]
struct StreamQuery {
    pattern: Option<String>,
    since: Option<u64>,
    epoch: Option<String>,
    timeout: Option<u64>,
    client: Option<String>,
    person: Option<String>,
    name: Option<String>,
    presence: Option<u64>,
    every: Option<u64>,
    secret: Option<String>,
}

/// `?pattern=P&since=N[&epoch=E][&timeout=S]`, checked: an unknown pattern is a `400`
/// that names the valid ones, like every other refusal.
#[derive(Debug)]
pub struct StreamParams {
    /// `PatternKind::DEFAULT` when absent.
    pub pattern: PatternKind,
    /// Where the client is; `None` when it named no seq.
    pub from: Option<Position>,
    /// The epoch the client named, with or without a seq (SSE takes its seq from
    /// `Last-Event-ID`).
    pub epoch: Option<String>,
    /// Long-poll only: how long to hold, in seconds.
    pub timeout: Option<u64>,
    /// Who the tab is (`client=C&person=P&name=N`): it is on the board's presence list
    /// while it is connected. `None`: it only watches.
    pub identity: Option<Identity>,
    /// Poll and long-poll: the rev of the presence list the client holds.
    pub presence: Option<u64>,
    /// Poll: the client's interval in milliseconds, which its presence lease allows for.
    pub every: Option<u64>,
    /// The tab's secret (`secret=S`), which claims its client id (see `presence`).
    pub secret: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for StreamParams {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(query) = Query::<StreamQuery>::from_request_parts(parts, state).await?;
        let pattern = PatternKind::from_param(query.pattern.as_deref()).map_err(AppError::BadRequest)?;
        let from = query.since.map(|seq| Position { seq, epoch: query.epoch.clone() });
        let identity = match &query.client {
            Some(client) => Some(
                Identity::parse(client, query.person.as_deref(), query.name.as_deref())
                    .map_err(AppError::BadRequest)?,
            ),
            None => None,
        };
        if let Some(secret) = &query.secret {
            check_secret(secret).map_err(AppError::BadRequest)?;
        }
        Ok(StreamParams {
            pattern,
            from,
            epoch: query.epoch,
            timeout: query.timeout,
            identity,
            presence: query.presence,
            every: query.every,
            secret: query.secret,
        })
    }
}

impl StreamParams {
    /// The prologue every transport shares: takes one of the client's stream slots (every
    /// transport but `poll`, whose request holds nothing; `429` when it has none left),
    /// enters the board's presence as this tab (`409` when its tab id is another
    /// connection's, `429` when its client has too many tabs), and notes what the client
    /// wants of the presence list. The [`Subscription`] it returns opens the stream.
    pub async fn open<'a>(
        self,
        app: &'a AppState,
        grant: &'a Grant,
        transport: Transport,
        ip: IpAddr,
    ) -> Result<Subscription<'a>, AppError> {
        let slot = match transport {
            Transport::Poll => None,
            Transport::LongPoll | Transport::Sse | Transport::Ws => Some(app.limits.open_stream(ip)?),
        };
        // A stream gets every presence list; a poll or long-poll client those it has not
        // seen, once it takes part (names itself or a rev).
        let wants = Wants::on(transport, self.presence, self.presence.is_some() || self.identity.is_some());
        let client = self.identity.as_ref().map(|identity| identity.client.clone());
        let named = self.identity.as_ref().map(|identity| (identity.client.clone(), identity.name.clone()));
        let tab = self.identity.map(|identity| TabInfo {
            identity,
            pattern: self.pattern,
            transport,
            joined: 0,
            claim: None,
        });
        let here =
            app.presence.enter(&grant.board, tab, Stay::on(transport, self.every), ip, self.secret.as_deref()).await?;
        Ok(Subscription {
            app,
            grant,
            slot,
            transport,
            pattern: self.pattern,
            from: self.from,
            client,
            named,
            here,
            wants,
        })
    }
}

/// A client let in, counted and on the presence list, about to read the board: what
/// [`StreamParams::open`] gathered, opened as a stream ([`Subscription::frames`]) or taken
/// as one batch ([`Subscription::batch`]).
pub struct Subscription<'a> {
    app: &'a AppState,
    /// The gate's answer: the board, its epoch, the key generation the stream watches.
    grant: &'a Grant,
    /// One of the client's `MAX_STREAMS_PER_IP`, held while the stream lives (`None`: a poll).
    slot: Option<Slot>,
    transport: Transport,
    pattern: PatternKind,
    /// Where the client is; `None` when it named no seq.
    from: Option<Position>,
    /// The tab this is, if it named itself: what it may sign its signals as.
    client: Option<String>,
    /// Its id and name, for the operator's console.
    named: Option<(String, String)>,
    /// This tab on the board's presence list, and its letters.
    here: Here,
    /// The presence lists the client wants.
    wants: Wants,
}

impl Subscription<'_> {
    /// Whether anything ephemeral waits for the client (a presence list it does not hold, a
    /// letter): a poll with nothing newer answers `304` only when there is not.
    pub fn has_news(&self) -> bool {
        self.here.has_news(self.wants)
    }

    /// The tab this stream is, if it named one: what it may sign its signals as.
    pub fn client(&self) -> Option<&str> {
        self.client.as_deref()
    }

    /// Opens the board's stream: the change log's frames with the board's presence beside
    /// them (the lists the client wants, and the tab's letters). Holds the client's stream
    /// slot while it lives, and ends with a `revoked` frame when the grant's key stops
    /// working. Returns the head it opened at, too, and the token the operator's console
    /// cancels to end it (cancelled: the stream ended because the operator said so, which
    /// a WebSocket tells its peer with its own close code).
    pub async fn frames(self) -> Result<(u64, Frames, CancellationToken), AppError> {
        let Subscription { app, grant, slot, transport, pattern, from, here, wants, named, client: _ } = self;
        let (head, frames) = stream::open(app, &grant.board, &grant.epoch, pattern, from).await?;
        let frames = alongside(frames, Box::pin(here.frames(wants)));
        // Listed on the operator's console while it lives (a poll holds nothing open), and
        // ended from there when asked: the stream simply ends, and the client reconnects.
        let listed =
            (transport != Transport::Poll).then(|| app.connections.register(&grant.board, transport, pattern, named));
        let ended = listed.as_ref().map(|(_, token)| token.clone()).unwrap_or_default();
        let frames =
            access::until_revoked(app, grant, frames).take_until(ended.clone().cancelled_owned()).map(move |frame| {
                let _held = (&slot, &listed);
                frame
            });
        Ok((head, Box::pin(frames), ended))
    }

    /// Takes one batch of the stream (poll and long-poll): waits up to `hold` for the first
    /// frame that moves the client (a data frame or `reset`; or, for a client at the head,
    /// an ephemeral frame), then takes every frame already waiting behind it, up to a page
    /// of bytes. Returns the head and the frames; `404` if the key was revoked meanwhile.
    pub async fn batch(mut self, hold: Duration) -> Result<(u64, Vec<Outgoing>), AppError> {
        let from = self.from.get_or_insert_with(Position::default);
        let behind = from.seq;
        let revoked = AppError::no_board(&self.grant.board);
        let (mut head, mut frames, _) = self.frames().await?;
        // A client behind the head waits for its changes; ephemeral frames ride along.
        let at_head = behind >= head;
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + hold;
        loop {
            match tokio::time::timeout_at(deadline, frames.next()).await {
                Ok(Some(frame)) if frame.revoked => return Err(revoked),
                Ok(Some(frame)) if frame.seq.is_some() => {
                    out.push(frame);
                    break;
                }
                Ok(Some(frame)) if frame.ephemeral => {
                    out.push(frame);
                    if at_head {
                        break;
                    }
                }
                Ok(Some(_hello_or_heartbeat)) => continue,
                // The stream ended (shutdown) or the hold is over: answer with what we have.
                Ok(None) | Err(_) => return Ok((head, out)),
            }
        }
        // Everything the catch-up produced is ready now; live changes may follow too. An
        // answer holds at most one page's worth of bytes: the client asks again from its
        // last seq.
        let mut bytes = out.iter().map(|f| f.json.len()).sum::<usize>();
        while bytes < stream::PAGE_BYTES {
            let Some(Some(frame)) = frames.next().now_or_never() else { break };
            if frame.revoked {
                return Err(revoked);
            }
            if frame.seq.is_some() || frame.ephemeral {
                bytes += frame.json.len();
                out.push(frame);
            }
        }
        head = head.max(out.iter().filter_map(|f| f.seq).max().unwrap_or(0));
        Ok((head, out))
    }
}

/// `GET /api/boards/{board}/{anything else}`: a transport that does not exist.
pub async fn unknown(Path((_board, name)): Path<(String, String)>) -> AppError {
    AppError::BadRequest(board_core::protocol::Transport::unknown(&name))
}

/// How long a frame may wait for a client that is not reading before the client is cut off
/// (SSE: the stream ends; WebSocket: close 1013). It reconnects and resumes from its seq.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// How many frames may wait for one SSE client...
const QUEUE_FRAMES: usize = 32;
/// ... and how many bytes of them: at least one frame, however big (a `push-state` frame of
/// a big board is megabytes), then no more than this.
pub const QUEUE_BYTES: usize = 256 * 1024;

/// An SSE response body is pulled by the connection only as fast as the client reads; a
/// client that stops reading, or reads too slowly for what the board sends, would leave its
/// stream (and the frames and notices it holds) waiting for ever. So the frames go through
/// a queue bounded in frames and in bytes ([`QUEUE_FRAMES`], [`QUEUE_BYTES`]) and filled by
/// a task of its own, which gives up when a frame cannot join it for [`SEND_TIMEOUT`]: the
/// stream and its subscription are dropped at once, and the response ends once the client
/// reads again. (Bounded by frames alone, 100 readers of a `push-state` board at 100 KB/s
/// held 300 MB and none was cut: a few big frames never filled a queue of 32.)
pub fn bounded(mut frames: Frames, transport: &'static str) -> impl Stream<Item = Outgoing> + Send + 'static {
    let budget = Arc::new(Semaphore::new(QUEUE_BYTES));
    let (queue, taken) = tokio::sync::mpsc::channel::<(Outgoing, OwnedSemaphorePermit)>(QUEUE_FRAMES);
    tokio::spawn(async move {
        loop {
            // A client that left is noticed at once, not at the next frame.
            let frame = tokio::select! {
                frame = frames.next() => match frame {
                    Some(frame) => frame,
                    None => return,
                },
                _ = queue.closed() => return,
            };
            // Usually there is room: no timer is armed; only a full queue (a client not
            // reading fast enough) arms one, for the frame's bytes and then its place.
            let bytes = frame.json.len().clamp(1, QUEUE_BYTES) as u32;
            let deadline = tokio::time::Instant::now() + SEND_TIMEOUT;
            let permit = match budget.clone().try_acquire_many_owned(bytes) {
                Ok(permit) => permit,
                Err(_) => match tokio::time::timeout_at(deadline, budget.clone().acquire_many_owned(bytes)).await {
                    Ok(Ok(permit)) => permit,
                    Ok(Err(_)) => return,
                    Err(_) => return slow(transport),
                },
            };
            let item = match queue.try_send((frame, permit)) {
                Ok(()) => continue,
                Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => return,
                Err(tokio::sync::mpsc::error::TrySendError::Full(item)) => item,
            };
            match tokio::time::timeout_at(deadline, queue.send(item)).await {
                Ok(Ok(())) => {}
                // The client left.
                Ok(Err(_)) => return,
                Err(_) => return slow(transport),
            }
        }
    });
    // A frame's bytes leave the queue's count as the connection takes it.
    futures::stream::unfold(taken, |mut taken| async move { taken.recv().await.map(|(frame, _bytes)| (frame, taken)) })
}

/// A client cut off for reading too slowly.
fn slow(transport: &'static str) {
    metrics::counter!("board_slow_consumers_total", "transport" => transport).increment(1);
}

/// The log's frames with the ephemeral ones beside them: `hello` first, then whichever
/// comes; it ends when the log's stream ends (the ephemeral one never does).
fn alongside(
    mut durable: Frames,
    mut ephemeral: std::pin::Pin<Box<dyn Stream<Item = Bytes> + Send + 'static>>,
) -> Frames {
    Box::pin(async_stream::stream! {
        match durable.next().await {
            Some(hello) => yield hello,
            None => return,
        }
        loop {
            tokio::select! {
                biased;
                frame = durable.next() => match frame {
                    Some(frame) => yield frame,
                    None => return,
                },
                Some(letter) = ephemeral.next() => yield Outgoing::ephemeral(letter),
            }
        }
    })
}

/// `{"head":H,"epoch":E,"frames":[...]}` assembled from the frames' bytes (no
/// re-encoding), with `ETag: "H"` and the epoch header.
pub fn frames_page(head: u64, epoch: &str, frames: &[Outgoing]) -> Response {
    let mut body = BytesMut::with_capacity(64 + frames.iter().map(|f| f.json.len() + 1).sum::<usize>());
    let epoch_json = serde_json::to_string(epoch).expect("a string serialises");
    body.put_slice(format!("{{\"head\":{head},\"epoch\":{epoch_json},\"frames\":[").as_bytes());
    for (i, frame) in frames.iter().enumerate() {
        if i > 0 {
            body.put_u8(b',');
        }
        body.put_slice(&frame.json);
    }
    body.put_slice(b"]}");
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (header::ETAG, caching::etag(head)),
            caching::epoch_header(epoch),
        ],
        Bytes::from(body),
    )
        .into_response()
}
