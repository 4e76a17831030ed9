//! The spans of one change: [`CommandTrace`] on the replica that takes the command (the
//! command, its commit, its publish), [`Traced`] on every replica that delivers it (the
//! receive, and the fan-out batch that ends when the last local subscriber has taken it).

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use opentelemetry::trace::{Link, Span as _, SpanContext, SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::Span;

use super::sampler::BOARD;
use super::{context, Telemetry};

/// How long a fan-out batch waits for its last subscriber: one that skipped the change (it
/// had it from the log already) or stopped reading never takes it, and the span ends then,
/// saying how many did not.
const DELIVERY_WAIT: Duration = Duration::from_secs(5);

/// The trace of a command on the replica that runs it. Dropping it ends the command span.
pub struct CommandTrace {
    telemetry: Arc<Telemetry>,
    /// The command span, as the parent of the commit and the publish.
    cx: Context,
    /// The command brought a `traceparent`: its change's frames carry the trace id even if
    /// nothing here records it (the sender asked to follow it).
    asked: bool,
}

impl Telemetry {
    /// Starts the trace of a `kind` command on `board` that came `via` a transport (`http`,
    /// `websocket`, `server-fn`), under the sender's `traceparent` if it sent a valid one.
    pub fn command(
        self: &Arc<Self>,
        board: &str,
        kind: &'static str,
        via: &'static str,
        traceparent: Option<&str>,
    ) -> CommandTrace {
        let remote = traceparent.and_then(context::parse);
        let parent = remote.clone().map_or_else(Context::new, |span| Context::new().with_remote_span_context(span));
        let span = self
            .tracer
            .span_builder("command")
            .with_kind(SpanKind::Server)
            .with_attributes([
                KeyValue::new(BOARD, board.to_owned()),
                KeyValue::new("board.command", kind),
                KeyValue::new("board.transport", via),
                KeyValue::new("board.replica", self.replica.to_string()),
            ])
            .start_with_context(&self.tracer, &parent);
        CommandTrace { telemetry: self.clone(), cx: parent.with_span(span), asked: remote.is_some() }
    }

    /// The change `seq` of `board` reached this replica (from the bus, `arrived` then, or
    /// from its own publish): its receive span, and the fan-out batch that follows.
    /// `None` when its trace is not recorded: an untraced change costs nothing per delivery.
    pub fn received(
        self: &Arc<Self>,
        board: &str,
        seq: u64,
        publish: SpanContext,
        arrived: SystemTime,
    ) -> Option<Traced> {
        if !publish.is_sampled() {
            return None;
        }
        let parent = Context::new().with_remote_span_context(publish.clone());
        let attributes = |operation: &'static str| {
            [
                KeyValue::new(BOARD, board.to_owned()),
                KeyValue::new("board.seq", seq as i64),
                KeyValue::new("board.replica", self.replica.to_string()),
                KeyValue::new("messaging.system", self.system),
                KeyValue::new("messaging.operation.type", operation),
                KeyValue::new("messaging.destination.name", "board"),
            ]
        };
        let mut receive = self
            .tracer
            .span_builder("receive board")
            .with_kind(SpanKind::Consumer)
            .with_start_time(arrived)
            .with_attributes(attributes("receive"))
            .start_with_context(&self.tracer, &parent);
        let process = self
            .tracer
            .span_builder("process board")
            .with_kind(SpanKind::Consumer)
            .with_attributes(attributes("process"))
            .with_links(vec![Link::with_context(publish.clone())])
            .start_with_context(&self.tracer, &parent.with_remote_span_context(receive.span_context().clone()));
        receive.end();
        let batch = Arc::new(Batch {
            span: Mutex::new(Some(process)),
            pending: AtomicI64::new(0),
            handed: AtomicUsize::new(0),
        });
        let due = Instant::now() + DELIVERY_WAIT;
        self.waiting.lock().expect("waiting batches").push_back((due, Arc::downgrade(&batch)));
        Some(Traced { publish, batch })
    }

    /// Ends, every second until the server closes, the fan-out batches whose last
    /// subscriber did not come within [`DELIVERY_WAIT`]; on closing, all of them.
    pub async fn keep_ending_batches(self: Arc<Self>, mut closing: tokio::sync::watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tick.tick() => self.end_batches(Some(Instant::now())),
                _ = closing.wait_for(|closing| *closing) => break,
            }
        }
        self.end_batches(None);
    }

    /// Ends the waiting batches due by `now` (all of them: `None`). The queue is in the
    /// order they were started, so it stops at the first one not yet due.
    fn end_batches(&self, now: Option<Instant>) {
        let mut waiting = self.waiting.lock().expect("waiting batches");
        while let Some((due, _)) = waiting.front() {
            if now.is_some_and(|now| *due > now) {
                break;
            }
            let (_, batch) = waiting.pop_front().expect("a front");
            if let Some(batch) = batch.upgrade() {
                batch.end();
            }
        }
    }
}

impl CommandTrace {
    /// The trace id the change's data frames carry: when the sender asked (it sent a
    /// `traceparent`) or the trace is recorded here.
    pub fn frames_id(&self) -> Option<String> {
        let span = self.cx.span();
        let context = span.span_context();
        (self.asked || context.is_sampled()).then(|| context.trace_id().to_string())
    }

    /// Starts the commit's span; it ends when dropped (or [`CommandTrace::committed`]).
    pub fn commit(&self, board: &str) -> Span {
        let tracer = &self.telemetry.tracer;
        tracer
            .span_builder("commit")
            .with_kind(SpanKind::Internal)
            .with_attributes([
                KeyValue::new(BOARD, board.to_owned()),
                KeyValue::new("board.replica", self.telemetry.replica.to_string()),
            ])
            .start_with_context(tracer, &self.cx)
    }

    /// The command committed as change `seq`.
    pub fn committed(&self, mut commit: Span, seq: u64) {
        commit.set_attribute(KeyValue::new("board.seq", seq as i64));
        commit.end();
        self.cx.span().set_attribute(KeyValue::new("board.seq", seq as i64));
    }

    /// The command was refused: `error.type` is the status it was answered with.
    pub fn refused(&self, status: u16, reason: &str) {
        let span = self.cx.span();
        span.set_attribute(KeyValue::new("error.type", status.to_string()));
        span.set_status(Status::error(reason.to_owned()));
    }

    /// Starts the publish span of change `seq`; the change is delivered under it (see
    /// [`Telemetry::received`]), and it ends when dropped, once the bus has it.
    pub fn publish(&self, board: &str, seq: u64) -> Span {
        let tracer = &self.telemetry.tracer;
        tracer
            .span_builder("publish board")
            .with_kind(SpanKind::Producer)
            .with_attributes([
                KeyValue::new(BOARD, board.to_owned()),
                KeyValue::new("board.seq", seq as i64),
                KeyValue::new("board.replica", self.telemetry.replica.to_string()),
                KeyValue::new("messaging.system", self.telemetry.system),
                KeyValue::new("messaging.operation.type", "send"),
                KeyValue::new("messaging.destination.name", "board"),
            ])
            .start_with_context(tracer, &self.cx)
    }

    /// The tracer, for the deliveries on this replica.
    pub fn telemetry(&self) -> &Arc<Telemetry> {
        &self.telemetry
    }
}

impl Drop for CommandTrace {
    fn drop(&mut self) {
        self.cx.span().end();
    }
}

/// What a traced change carries on a replica that delivers it (`live::LiveChange`). Its
/// fan-out batch's span ends when the last subscriber takes the change, at the latest
/// [`DELIVERY_WAIT`] later ([`Telemetry::keep_ending_batches`]), or when it is dropped.
pub struct Traced {
    /// The publish span: the other replicas' parent, sent in the bus envelope.
    publish: SpanContext,
    batch: Arc<Batch>,
}

/// This replica's fan-out batch of one change.
pub(super) struct Batch {
    /// Ended once: by the last subscriber to take the change, or by the wait.
    span: Mutex<Option<Span>>,
    /// Subscribers handed the change and not yet taken it. It goes below zero when a fast
    /// subscriber takes the change before the count of those it was handed to is added.
    pending: AtomicI64,
    /// How many it was handed to: `messaging.batch.message_count`.
    handed: AtomicUsize,
}

impl Traced {
    /// The `traceparent` the other replicas' spans of this change descend from.
    pub fn traceparent(&self) -> String {
        context::format(&self.publish)
    }

    /// The change was handed to `subscribers` local subscribers (the fan-out's send).
    pub fn handed(&self, subscribers: usize) {
        self.batch.handed.fetch_add(subscribers, Ordering::SeqCst);
        let before = self.batch.pending.fetch_add(subscribers as i64, Ordering::SeqCst);
        if before + subscribers as i64 == 0 {
            self.batch.end();
        }
    }

    /// One subscriber took the change from the fan-out.
    pub fn taken(&self) {
        // Only `handed` raises the count above zero: from one to none is the last taker.
        if self.batch.pending.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.batch.end();
        }
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        self.end();
    }
}

impl Batch {
    fn end(&self) {
        let Some(mut span) = self.span.lock().expect("batch lock").take() else { return };
        let handed = self.handed.load(Ordering::SeqCst);
        let waiting = self.pending.load(Ordering::SeqCst).max(0);
        span.set_attribute(KeyValue::new("messaging.batch.message_count", handed as i64));
        if waiting > 0 {
            span.set_attribute(KeyValue::new("board.untaken", waiting));
        }
        span.end();
    }
}

/// How many tabs' applies one trace keeps: the waterfall shows a few readers, not a crowd
/// (and a flood of reports about one change records no more).
pub const APPLIES: usize = 16;

/// Why a tab's report of an apply was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum Unrecorded {
    #[error("no recent trace of this board has that id and that replica's receive")]
    Unknown,
    #[error("this trace holds as many applies as it keeps ({APPLIES})")]
    Full,
    #[error("the times must be Unix milliseconds, received before applied, within a minute of now")]
    Times,
}

impl Telemetry {
    /// A tab applied the traced change `trace` of `board`, which `report.replica` fanned out
    /// to it: its `apply` span (from receipt to applied, the tab's clock), under that
    /// replica's receive.
    pub fn applied(&self, board: &str, trace: &str, report: &board_core::api::Applied) -> Result<(), Unrecorded> {
        let (receive, applies) = self.recent.received(board, trace, &report.replica).ok_or(Unrecorded::Unknown)?;
        if applies >= APPLIES {
            return Err(Unrecorded::Full);
        }
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        let near = |at: f64| at.is_finite() && (at - now).abs() <= 60_000.0;
        if !near(report.received) || !near(report.applied) || report.received > report.applied {
            return Err(Unrecorded::Times);
        }
        let at = |ms: f64| SystemTime::UNIX_EPOCH + Duration::from_secs_f64(ms / 1000.0);
        let parent = Context::new().with_remote_span_context(receive);
        let mut span = self
            .tracer
            .span_builder("apply")
            .with_kind(SpanKind::Consumer)
            .with_start_time(at(report.received))
            .with_attributes([
                KeyValue::new(BOARD, board.to_owned()),
                KeyValue::new("board.seq", report.seq as i64),
                KeyValue::new("board.replica", report.replica.clone()),
                KeyValue::new("board.via", format!("{} · {}", report.transport, report.pattern)),
            ])
            .start_with_context(&self.tracer, &parent);
        span.end_with_timestamp(at(report.applied));
        Ok(())
    }
}
