//! The hops of recent traced changes, for the inspector's waterfall
//! (`GET /api/boards/{board}/traces/{trace}`): every span of a change that ended here, and
//! those the other replicas told this one about, as a few numbers each.
//!
//! It is a span processor beside the exporter, so it sees exactly what is recorded (the
//! sampled traces) and nothing else. Bounded by construction: [`TRACES`] traces, the oldest
//! forgotten first, and [`HOPS`] hops each.
//!
//! A replica shares the hops it records with the others on the board's channel (an
//! ephemeral message, at most once like any): a tab asks its own replica, which then knows
//! when every replica received the change and fanned it out.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use board_core::api::Hop;
use opentelemetry::trace::{SpanContext, SpanId, Status, TraceFlags, TraceId, TraceState};
use opentelemetry::Context;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::sampler::BOARD;

/// How many traces are kept.
pub const TRACES: usize = 512;
/// How many hops one trace keeps: a command's own five, two for each of several replicas,
/// and the applies tabs report.
pub const HOPS: usize = 48;
/// How many hops may wait to be shared with the other replicas; more are not shared.
const SHARE_QUEUE: usize = 1024;

/// What the other replicas are told of a hop.
#[derive(Debug, Serialize, Deserialize)]
pub struct SharedHop {
    pub trace: String,
    pub hop: Hop,
}

/// The kept hops, and the way to the other replicas.
#[derive(Debug, Default)]
pub struct Recent {
    kept: Mutex<Kept>,
    /// Hops recorded here, on their way to the other replicas (`None` on its own).
    share: Mutex<Option<mpsc::Sender<(String, SharedHop)>>>,
}

#[derive(Debug, Default)]
struct Kept {
    /// Each trace's hops, each with its board.
    traces: HashMap<String, Vec<(String, Hop)>>,
    /// Trace ids, oldest first.
    order: VecDeque<String>,
}

impl Recent {
    /// The hops of `trace` that belong to `board`, earliest first. Another board's hops are
    /// not shown (a trace id names nothing else).
    pub fn hops(&self, board: &str, trace: &str) -> Vec<Hop> {
        let kept = self.kept.lock().expect("recent traces");
        let mut hops: Vec<Hop> = kept
            .traces
            .get(trace)
            .into_iter()
            .flatten()
            .filter(|(of, _)| of == board)
            .map(|(_, hop)| hop.clone())
            .collect();
        hops.sort_by(|a, b| a.start.total_cmp(&b.start));
        hops
    }

    /// The span context of `replica`'s receive of `trace` on `board`: the parent of a tab's
    /// reported apply (the receive, not the fan-out batch: a batch's span ends with its last
    /// subscriber, perhaps after this tab's report). With how many applies the trace holds.
    pub fn received(&self, board: &str, trace: &str, replica: &str) -> Option<(SpanContext, usize)> {
        let kept = self.kept.lock().expect("recent traces");
        let hops = kept.traces.get(trace)?;
        let (_, receive) =
            hops.iter().find(|(of, h)| of == board && h.replica == replica && h.name == "receive board")?;
        let context = SpanContext::new(
            TraceId::from_hex(trace).ok()?,
            SpanId::from_hex(&receive.span).ok()?,
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        );
        Some((context, hops.iter().filter(|(_, h)| h.name == "apply").count()))
    }

    /// A hop another replica recorded.
    pub fn heard(&self, board: &str, shared: SharedHop) {
        self.keep(shared.trace, board.to_owned(), shared.hop);
    }

    /// Starts sharing the hops recorded here: they go into the returned queue, which the
    /// caller empties onto the bus.
    pub fn share(&self) -> mpsc::Receiver<(String, SharedHop)> {
        let (sender, receiver) = mpsc::channel(SHARE_QUEUE);
        *self.share.lock().expect("share") = Some(sender);
        receiver
    }

    fn keep(&self, trace: String, board: String, hop: Hop) {
        let mut kept = self.kept.lock().expect("recent traces");
        let Kept { traces, order } = &mut *kept;
        match traces.get_mut(&trace) {
            Some(hops) if hops.len() >= HOPS => {}
            Some(hops) => hops.push((board, hop)),
            None => {
                if order.len() >= TRACES {
                    if let Some(oldest) = order.pop_front() {
                        traces.remove(&oldest);
                    }
                }
                order.push_back(trace.clone());
                traces.insert(trace, vec![(board, hop)]);
            }
        }
    }
}

/// The processor over a shared [`Recent`] (the provider owns its processors).
#[derive(Debug)]
pub struct Keep(pub std::sync::Arc<Recent>);

impl SpanProcessor for Keep {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        let attribute = |key: &str| span.attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| kv.value.clone());
        let Some(board) = attribute(BOARD).map(|v| v.as_str().into_owned()) else { return };
        let number = |key: &str| attribute(key).and_then(|v| v.as_str().parse::<u64>().ok());
        let error = match &span.status {
            Status::Error { .. } => {
                Some(attribute("error.type").map_or_else(|| "error".into(), |v| v.as_str().into_owned()))
            }
            _ => None,
        };
        let hop = Hop {
            name: span.name.to_string(),
            replica: attribute("board.replica").map(|v| v.as_str().into_owned()).unwrap_or_default(),
            start: unix_ms(span.start_time),
            end: unix_ms(span.end_time),
            span: span.span_context.span_id().to_string(),
            parent: span.parent_span_id.to_string(),
            seq: number("board.seq"),
            subscribers: number("messaging.batch.message_count"),
            error,
            via: attribute("board.via").map(|v| v.as_str().into_owned()),
        };
        let trace = span.span_context.trace_id().to_string();
        if let Some(share) = self.0.share.lock().expect("share").as_ref() {
            // Full: the others miss this hop (the waterfall shows what it has).
            let _ = share.try_send((board.clone(), SharedHop { trace: trace.clone(), hop: hop.clone() }));
        }
        self.0.keep(trace, board, hop);
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}

fn unix_ms(at: SystemTime) -> f64 {
    at.duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(name: &str, start: f64) -> Hop {
        Hop {
            name: name.into(),
            replica: "r".into(),
            start,
            end: start + 1.0,
            span: "00f067aa0ba902b7".into(),
            parent: "0000000000000000".into(),
            seq: None,
            subscribers: None,
            error: None,
            via: None,
        }
    }

    #[test]
    fn it_keeps_so_many_traces_and_hops_and_shows_a_board_only_its_own() {
        let recent = Recent::default();
        for n in 0..TRACES + 10 {
            recent.keep(format!("{n:032x}"), "b".into(), hop("command", n as f64));
        }
        assert!(recent.hops("b", &format!("{:032x}", 0)).is_empty(), "the oldest went first");
        assert_eq!(recent.hops("b", &format!("{:032x}", TRACES + 9)).len(), 1);
        let trace = format!("{:032x}", TRACES + 9);
        for n in 0..HOPS * 2 {
            recent.keep(trace.clone(), "b".into(), hop("process board", n as f64));
        }
        assert_eq!(recent.hops("b", &trace).len(), HOPS);
        assert!(recent.hops("other", &trace).is_empty(), "a trace id shows nothing of another board");
    }
}
