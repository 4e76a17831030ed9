//! W3C Trace Context in and out: a `traceparent` a command came with, and the one the
//! publish span hands the other replicas in the bus envelope. Parsing is the SDK's
//! propagator's (the W3C rules: version, lengths, no all-zero ids), not ours.

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanContext, TraceContextExt};
use opentelemetry::Context;
use opentelemetry_sdk::propagation::TraceContextPropagator;

/// The remote span a `traceparent` names; `None` when it is not a valid one. (W3C says a
/// receiver that cannot parse it starts a new trace, as if none had come: a traced
/// command is never refused for its trace.)
pub fn parse(traceparent: &str) -> Option<SpanContext> {
    let traceparent = traceparent.trim();
    // The propagator takes a shorter id as a smaller number; W3C says exactly these lengths.
    let lengths: Vec<usize> = traceparent.split('-').map(str::len).collect();
    if lengths.get(..3) != Some(&[2, 32, 16]) {
        return None;
    }
    let carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let cx = TraceContextPropagator::new().extract(&carrier);
    let span = cx.span().span_context().clone();
    span.is_valid().then_some(span)
}

/// The `traceparent` of `span`, to send on.
pub fn format(span: &SpanContext) -> String {
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&Context::new().with_remote_span_context(span.clone()), &mut carrier);
    carrier.remove("traceparent").unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLED: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_traceparent_names_its_trace_and_goes_out_as_it_came() {
        let span = parse(SAMPLED).expect("valid");
        assert_eq!(span.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(span.is_sampled() && span.is_remote());
        assert_eq!(format(&span), SAMPLED);
        let unsampled = parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").unwrap();
        assert!(!unsampled.is_sampled());
    }

    #[test]
    fn anything_else_is_no_trace_at_all() {
        for bad in [
            "",
            "nonsense",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert!(parse(bad).is_none(), "{bad:?}");
        }
    }
}
