//! The one subscription: `(board, pattern, since) -> stream of frames`. Every transport is
//! a thin adapter over [`open`].
//!
//! The stream first catches up: it sends what the client missed from the change log, then follows the
//! broker. Because the broker may lose or reorder notices (see `broker`), every live change
//! is checked against the last seq sent:
//!
//! * `seq <= last`: already sent (the catch-up/live seam, or a late notice): skipped;
//! * `seq == last + 1`: sent;
//! * `seq > last + 1`: a gap: the missing seqs are read from the log first;
//! * the receiver lagged: everything since `last` is read from the log;
//! * idle: a `heartbeat` carries the head read from the database (through `recent`, one
//!   read per board per interval), and a head above `last` (a lost last notice) triggers
//!   the same repair.
//!
//! A client behind the retained log gets `reset` and must take a fresh snapshot; so does one
//! whose position is from another epoch of the board (see `board_core::api::Position`).
//! Self-contained patterns (`poke-pull`, `push-state`) never catch up through history: one frame at
//! the newest seq is enough.

use bytes::Bytes;
use futures::Stream;
use tokio::sync::broadcast::error::RecvError;

use board_core::api::Position;
use board_core::patterns::{Frame, PatternKind};

use crate::broker::Notice;
use crate::error::AppError;
use crate::state::AppState;
use crate::store::ChangesSince;

/// How many log entries one catch-up query reads.
pub const CATCH_UP_PAGE: i64 = 500;
/// About how many bytes of frames one catch-up page (and one poll, long-poll or
/// `/changes` answer) carries: it stops after the frame that crosses this.
pub const PAGE_BYTES: usize = 1024 * 1024;

/// A subscription's frames, boxed: the type every layer of a stream (presence beside it,
/// the revocation check, the transport's queue) takes and returns.
///
/// Why boxed: an `async` block (and so `async_stream::stream!`) keeps room for each value
/// it captured for as long as it lives, even after the value was moved into a pinned
/// local; a layer that captured its inner stream by value and pinned it held that stream
/// twice, and four nested layers made an idle SSE subscription about 29 KB. A layer that
/// captures a `Box` holds 16 bytes, and each stream exists once, on the heap.
pub type Frames = std::pin::Pin<Box<dyn Stream<Item = Outgoing> + Send + 'static>>;

/// One frame ready for the wire.
#[derive(Clone, Debug)]
pub struct Outgoing {
    /// The seq the client holds once it has handled this frame (a data frame's seq, or the
    /// head for `reset`): the SSE `id:`. `None` for `hello` and `heartbeat`.
    pub seq: Option<u64>,
    /// The frame's JSON, shared with every other subscriber for live changes.
    pub json: Bytes,
    /// This is the `revoked` frame: the stream ends after it, and each transport ends in
    /// its own way (see `access::until_revoked`).
    pub revoked: bool,
    /// Ephemeral (presence, a signal, a cursor): no seq, and it moves no client along the
    /// log, but a poll or long-poll answers for it.
    pub ephemeral: bool,
    /// A `heartbeat`: one every `HEARTBEAT_SECS` (SSE sends its keep-alive comment with it,
    /// so that no stream needs a timer of its own).
    pub heartbeat: bool,
}

impl Outgoing {
    fn control(frame: Frame) -> Self {
        let seq = match frame {
            Frame::Reset { head } => Some(head),
            _ => None,
        };
        Outgoing::data(seq, Bytes::from(frame.to_json()))
    }

    fn data(seq: Option<u64>, json: Bytes) -> Self {
        Outgoing { seq, json, revoked: false, ephemeral: false, heartbeat: false }
    }

    /// A presence, signal or cursor frame (see `presence`).
    pub fn ephemeral(json: Bytes) -> Self {
        Outgoing { seq: None, json, revoked: false, ephemeral: true, heartbeat: false }
    }

    /// The last frame of a stream whose key was revoked.
    pub fn revoked() -> Self {
        Outgoing { revoked: true, ..Outgoing::control(Frame::Revoked {}) }
    }
}

/// Checks the board and starts its stream; also returns the head seq it started at.
/// `epoch` is the board's (the gate read it); `from` is where the client is, if it says:
/// without a seq the stream starts at the head (the client is expected to hold it), and a
/// position from another epoch starts with `reset`.
pub async fn open(
    app: &AppState,
    board: &str,
    epoch: &str,
    pattern: PatternKind,
    from: Option<Position>,
) -> Result<(u64, Frames), AppError> {
    // Subscribe before reading the head: a change that commits in between is then both in
    // the catch-up and on the channel, and the seq check drops the duplicate.
    let followed = app.broker.follows(board);
    let live = app.broker.subscribe(board).await;
    let head = app.known_head(board, followed, from.as_ref().map_or(0, |from| from.seq)).await?;
    let app = app.clone();
    let board = board.to_owned();
    let epoch = epoch.to_owned();
    let foreign = from.as_ref().is_some_and(|from| from.is_foreign(&epoch));
    let since = from.map_or(head, |from| from.seq);
    Ok((
        head,
        Box::pin(async_stream::stream! {
            let _gauge = Subscribed::new(pattern);
            let mut live = live;
            let closed = closed(app.closing.clone());
            tokio::pin!(closed);
            yield Outgoing::control(Frame::Hello { replica: app.replica.to_string(), head, epoch });
            let mut last = since;
            if since > head || foreign {
                // The client holds a seq of another incarnation of this board (a wiped or
                // restored database, a board created again under its id), or one this board
                // never reached: only a fresh snapshot can help.
                metrics::counter!("board_stream_resets_total").increment(1);
                yield Outgoing::control(Frame::Reset { head });
                last = head;
            }
            let mut heartbeat = tokio::time::interval(app.heartbeat);
            heartbeat.reset();
            loop {
                // Catch up to whatever the log holds beyond `last`, a page at a time: the
                // next page is read only once the transport has taken this one.
                loop {
                    // Boxed, like the head read below: a database read's future is large
                    // and rare, so it lives on the heap while it runs instead of in every
                    // idle stream.
                    match Box::pin(catch_up(&app, &board, pattern, last)).await {
                        Ok((frames, at_head)) => {
                            for frame in frames {
                                last = frame.seq.unwrap_or(last).max(last);
                                yield frame;
                            }
                            if at_head {
                                break;
                            }
                        }
                        Err(err) => {
                            tracing::warn!(%board, error = %err, "stream ends: cannot read the log");
                            return;
                        }
                    }
                }
                // Follow live changes until something needs repair.
                loop {
                    tokio::select! {
                        _ = &mut closed => return,
                        notice = live.recv() => match notice {
                            Ok(Notice::Change(change)) if change.seq() <= last => continue,
                            Ok(Notice::Change(change)) if change.seq() == last + 1 || pattern.self_contained() => {
                                let Some(json) = change.frame(pattern) else {
                                    // push-state without the state: the snapshot catch-up sends it.
                                    break;
                                };
                                last = change.seq();
                                Sent::Live.count(pattern);
                                yield Outgoing::data(Some(last), json);
                            }
                            Ok(Notice::Head(head)) if head <= last => continue,
                            Ok(Notice::Head(_)) => {
                                Repair::Head.count();
                                break;
                            }
                            Ok(Notice::Change(_gap)) => {
                                Repair::Gap.count();
                                break;
                            }
                            Err(RecvError::Lagged(_)) => {
                                Repair::Lagged.count();
                                break;
                            }
                            Err(RecvError::Closed) => return,
                        },
                        _ = heartbeat.tick() => {
                            match Box::pin(app.freshness.recent_head(&board)).await {
                                Ok(Some(head)) => {
                                    // A cached head may be older than what this stream sent.
                                    yield Outgoing { heartbeat: true, ..Outgoing::control(Frame::Heartbeat { head: head.max(last) }) };
                                    if head > last {
                                        Repair::Heartbeat.count();
                                        break;
                                    }
                                }
                                Ok(None) => return,
                                Err(err) => {
                                    tracing::warn!(%board, error = %err, "stream ends: cannot read the head");
                                    return;
                                }
                            }
                        }
                    }
                }
            }
        }),
    ))
}

/// Why a stream went back to the log: the `cause` label of `board_stream_repairs_total`.
#[derive(Clone, Copy, Debug)]
enum Repair {
    /// A notice skipped a seq.
    Gap,
    /// The subscriber fell behind its channel.
    Lagged,
    /// A head read by the sweep (`freshness`) is past what was sent.
    Head,
    /// The heartbeat's head is past what was sent (a lost last notice).
    Heartbeat,
}

impl Repair {
    fn as_str(self) -> &'static str {
        match self {
            Repair::Gap => "gap",
            Repair::Lagged => "lagged",
            Repair::Head => "head",
            Repair::Heartbeat => "heartbeat",
        }
    }

    fn count(self) {
        metrics::counter!("board_stream_repairs_total", "cause" => self.as_str()).increment(1);
    }
}

/// Where a sent frame came from: the `path` label of `board_frames_sent_total`.
#[derive(Clone, Copy, Debug)]
enum Sent {
    /// A live change, encoded once for every subscriber.
    Live,
    /// The catch-up from the log.
    CatchUp,
}

impl Sent {
    fn as_str(self) -> &'static str {
        match self {
            Sent::Live => "live",
            Sent::CatchUp => "catch_up",
        }
    }

    fn count(self, pattern: PatternKind) {
        metrics::counter!("board_frames_sent_total", "pattern" => pattern.as_str(), "path" => self.as_str())
            .increment(1);
    }
}

/// Completes when the server starts shutting down (never, if nobody can signal it).
async fn closed(mut closing: tokio::sync::watch::Receiver<bool>) {
    if closing.wait_for(|closing| *closing).await.is_ok() {
        return;
    }
    std::future::pending::<()>().await
}

/// One page of the catch-up: the frames after `last`, at most [`CATCH_UP_PAGE`] of them and
/// about [`PAGE_BYTES`] of JSON, and whether they reach the log's head (`false`: ask again
/// from the last one). Never more than one page in memory, however long the log is.
pub async fn catch_up(
    app: &AppState,
    board: &str,
    pattern: PatternKind,
    last: u64,
) -> Result<(Vec<Outgoing>, bool), AppError> {
    if pattern.self_contained() {
        let snapshot = app.snapshot(board).await?;
        let frames = if snapshot.seq() > last { vec![snapshot_frame(pattern, &snapshot)] } else { Vec::new() };
        return Ok((frames, true));
    }
    match app.store.changes_since(board, last, CATCH_UP_PAGE).await? {
        None => Err(AppError::no_board(board)),
        Some(ChangesSince::Pruned { head }) => {
            app.freshness.saw_head(board, head);
            metrics::counter!("board_stream_resets_total").increment(1);
            // The client jumps to the head; the next page starts there.
            Ok((vec![Outgoing::control(Frame::Reset { head })], false))
        }
        Some(ChangesSince::Changes { head, changes }) => {
            app.freshness.saw_head(board, head);
            let mut out = Vec::with_capacity(changes.len());
            let mut bytes = 0;
            let mut reached = last;
            for change in changes {
                if bytes >= PAGE_BYTES {
                    break;
                }
                Sent::CatchUp.count(pattern);
                // Delta patterns encode from the change alone (self-contained ones never catch up this way).
                let frame = pattern.encode(&change).expect("a delta pattern encodes from the change");
                let json = Bytes::from(frame.to_json());
                bytes += json.len();
                reached = change.seq;
                out.push(Outgoing::data(Some(change.seq), json));
            }
            Ok((out, reached >= head))
        }
    }
}

/// The single frame a self-contained pattern needs to reach `snapshot`.
pub fn snapshot_frame(pattern: PatternKind, snapshot: &crate::live::Snapshot) -> Outgoing {
    Outgoing::data(Some(snapshot.seq()), snapshot.frame(pattern))
}

/// Counts open subscriptions per pattern for `/metrics`, decremented when the stream drops.
struct Subscribed(PatternKind);

impl Subscribed {
    fn new(pattern: PatternKind) -> Self {
        metrics::gauge!("board_subscribers", "pattern" => pattern.as_str()).increment(1.0);
        Subscribed(pattern)
    }
}

impl Drop for Subscribed {
    fn drop(&mut self) {
        metrics::gauge!("board_subscribers", "pattern" => self.0.as_str()).decrement(1.0);
    }
}
