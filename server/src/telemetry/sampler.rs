//! Which changes are traced. A command that brought a `traceparent` follows its sender's
//! decision (its sampled flag: a tab traced at 100 % sends it set); one that brought none
//! is traced when its board is named in `TRACE_BOARDS`, or else with probability
//! `TRACE_SAMPLE` (by trace id, so every replica agrees). Spans after the command (commit,
//! publish, each replica's receive and fan-out) have a parent and follow it.

use std::collections::HashSet;
use std::sync::Arc;

use opentelemetry::trace::{Link, SpanKind, TraceId};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{Sampler, SamplingDecision, SamplingResult, ShouldSample};

/// The attribute naming a span's board: what [`Boards`] reads.
pub const BOARD: &str = "board.id";

/// The sampler of every tracer here.
pub fn sampler(fraction: f64, boards: &[String]) -> Sampler {
    let root =
        Boards { boards: Arc::new(boards.iter().cloned().collect()), rest: Sampler::TraceIdRatioBased(fraction) };
    Sampler::ParentBased(Box::new(root))
}

/// The decision for a trace that starts here.
#[derive(Clone, Debug)]
struct Boards {
    /// Traced whole.
    boards: Arc<HashSet<String>>,
    /// The decision for every other board's.
    rest: Sampler,
}

impl ShouldSample for Boards {
    fn should_sample(
        &self,
        parent: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        let board = attributes.iter().find(|kv| kv.key.as_str() == BOARD);
        if board.is_some_and(|kv| self.boards.contains(kv.value.as_str().as_ref())) {
            return SamplingResult {
                decision: SamplingDecision::RecordAndSample,
                attributes: Vec::new(),
                trace_state: Default::default(),
            };
        }
        self.rest.should_sample(parent, trace_id, name, kind, attributes, links)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceState};

    fn decide(sampler: &Sampler, parent: Option<&Context>, board: &str, trace: u128) -> bool {
        let result = sampler.should_sample(
            parent,
            TraceId::from(trace),
            "command",
            &SpanKind::Server,
            &[KeyValue::new(BOARD, board.to_owned())],
            &[],
        );
        result.decision == SamplingDecision::RecordAndSample
    }

    #[test]
    fn a_named_board_is_traced_whole_and_the_rest_by_fraction() {
        let sampler = sampler(0.0, &["loud".to_owned()]);
        assert!((1..200).all(|t| decide(&sampler, None, "loud", t << 64)));
        assert!((1..200).all(|t| !decide(&sampler, None, "quiet", t << 64)));
        let half = super::sampler(0.5, &[]);
        let traced = (1..=1000u128)
            .filter(|t| decide(&half, None, "quiet", t.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)))
            .count();
        assert!((400..600).contains(&traced), "{traced} of 1000 at one half");
    }

    #[test]
    fn a_sender_decides_for_its_own_trace() {
        let sampler = sampler(1.0, &["loud".to_owned()]);
        for (flags, traced) in [(TraceFlags::SAMPLED, true), (TraceFlags::default(), false)] {
            let remote = SpanContext::new(TraceId::from(7), SpanId::from(9), flags, true, TraceState::default());
            let parent = Context::new().with_remote_span_context(remote);
            assert_eq!(decide(&sampler, Some(&parent), "loud", 7), traced);
            assert_eq!(decide(&sampler, Some(&parent), "quiet", 7), traced);
        }
    }
}
