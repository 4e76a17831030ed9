//! Traces: one change followed from its command to every replica's fan-out, as
//! OpenTelemetry spans.
//!
//! A command may bring a W3C `traceparent` (an HTTP header, a field beside a command on a
//! socket, a server function's request header); otherwise its trace starts here. The spans
//! of one change, named as OpenTelemetry's messaging conventions name a message's life:
//!
//! ```text
//! command {board}           SERVER    on the replica that took the command
//! ├─ commit                 INTERNAL  the store's write transaction
//! └─ publish {board}        PRODUCER  handing the change to this replica and the bus
//!    ├─ receive {board}     CONSUMER  on each replica, the origin too (parent: the publish)
//!    │  ├─ process {board}  CONSUMER  the replica's fan-out batch: from the notice to the
//!    │  │                             last local subscriber taking it; links the publish
//!    │  └─ apply            CONSUMER  a tab's report: from the frame's arrival to the page
//!    │                                showing it (the tab's clock)
//!    └─ receive … (another replica)
//! ```
//!
//! The publish's context crosses the bus in the envelope (`broker::relay`), whatever the
//! bus; the change's record carries the trace id, so every data frame of the change does
//! (`"trace"`), and the tab that applies it can say when.
//!
//! * [`context`]: `traceparent` in (W3C Trace Context, through the SDK's propagator) and out.
//! * [`sampler`]: which traces are recorded: the caller's decision when it sent one, every
//!   trace of the boards named in `TRACE_BOARDS`, and a fraction (`TRACE_SAMPLE`) of the rest.
//! * [`change`]: the spans of one change ([`change::CommandTrace`] where it is made,
//!   [`change::Traced`] where it is delivered, and the apply a tab reports).
//! * [`recent`]: the hops of recent traced changes, this replica's and those the others
//!   shared, for the inspector's waterfall.
//!
//! Where spans go: to an OTLP collector when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (the
//! exporter's own variables choose the protocol, headers and timeout); with no exporter and
//! no traced command nothing is recorded: an untraced change costs one sampling decision per
//! command and nothing per delivery.

pub mod change;
pub mod context;
pub mod recent;
pub mod sampler;

use std::sync::Arc;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider, SpanExporter};
use opentelemetry_sdk::Resource;

pub use change::{CommandTrace, Traced};

/// What the tracing settings say (`config`).
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// The fraction of commands started here (no `traceparent`) that are traced, 0 to 1.
    /// `None`: 1 % with an exporter, none without (nothing would read them).
    pub sample: Option<f64>,
    /// Boards whose every change is traced, whatever the fraction.
    pub boards: Vec<String>,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`: where spans are exported; `None`, nowhere.
    pub otlp_endpoint: Option<String>,
    /// `OTEL_EXPORTER_OTLP_PROTOCOL=http/json`: JSON rather than protobuf.
    pub otlp_json: bool,
}

/// Makes a replica's tracer in code, given its name and its `messaging.system`: how a
/// test hands the server its in-memory exporter (`Config::tracer`).
#[derive(Clone)]
pub struct MakeTracer(pub Arc<dyn Fn(Arc<str>, &'static str) -> Arc<Telemetry> + Send + Sync>);

impl std::fmt::Debug for MakeTracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MakeTracer")
    }
}

/// The `messaging.system` of a replica whose bus is `url` (`None`: on its own).
pub fn system(url: Option<&str>) -> &'static str {
    match url.and_then(|url| url.split_once("://")).map(|(scheme, _)| scheme) {
        None => "memory",
        Some("redis" | "rediss") => "redis",
        Some("nats") => "nats",
        Some(_) => "postgresql",
    }
}

/// A replica's tracer. Shared by everything that makes spans ([`change`]).
pub struct Telemetry {
    tracer: SdkTracer,
    /// Kept to flush and shut the exporter down when the server stops.
    provider: SdkTracerProvider,
    /// This replica's name: an attribute of the spans it makes on behalf of a change
    /// (`board.replica`), so a waterfall can tell the replicas apart without the resource.
    replica: Arc<str>,
    /// `messaging.system` of the publish and receive spans: the bus (`redis`, `nats`,
    /// `postgresql`), or `memory` for a replica on its own.
    system: &'static str,
    /// Fan-out batches not yet ended, oldest first, each with when it must end at the
    /// latest: one task ends them ([`Telemetry::keep_ending_batches`]), none per change.
    waiting: std::sync::Mutex<std::collections::VecDeque<(std::time::Instant, std::sync::Weak<change::Batch>)>>,
    /// The hops of recent traced changes (a processor of every recorded span).
    recent: Arc<recent::Recent>,
}

impl Telemetry {
    /// The tracer the settings ask for: exporting over OTLP when an endpoint is set.
    pub fn from_settings(
        settings: &Settings,
        replica: Arc<str>,
        system: &'static str,
    ) -> Result<Arc<Telemetry>, crate::BoxError> {
        let exporter = match &settings.otlp_endpoint {
            Some(endpoint) => Some(otlp(endpoint, settings.otlp_json)?),
            None => None,
        };
        let sample = settings.sample.unwrap_or(if exporter.is_some() { 0.01 } else { 0.0 });
        let recent = Arc::new(recent::Recent::default());
        let mut builder = provider_builder(&replica, sample, &settings.boards, &recent);
        if let Some(exporter) = exporter {
            builder = builder.with_batch_exporter(exporter);
        }
        Ok(Arc::new(Telemetry::with_provider(builder.build(), replica, system, recent)))
    }

    /// A tracer that hands every finished span to `exporter` at once (the tests' in-memory
    /// exporter), sampling as `settings` say.
    pub fn with_exporter(
        exporter: impl SpanExporter + 'static,
        settings: &Settings,
        replica: Arc<str>,
        system: &'static str,
    ) -> Arc<Telemetry> {
        let recent = Arc::new(recent::Recent::default());
        let builder = provider_builder(&replica, settings.sample.unwrap_or(0.0), &settings.boards, &recent);
        Arc::new(Telemetry::with_provider(builder.with_simple_exporter(exporter).build(), replica, system, recent))
    }

    fn with_provider(
        provider: SdkTracerProvider,
        replica: Arc<str>,
        system: &'static str,
        recent: Arc<recent::Recent>,
    ) -> Telemetry {
        let tracer = provider.tracer("realtime-board");
        Telemetry { tracer, provider, replica, system, waiting: Default::default(), recent }
    }

    /// The hops of recent traced changes.
    pub fn recent(&self) -> &recent::Recent {
        &self.recent
    }

    /// Sends what is still buffered and stops the exporter (on shutdown).
    pub fn shutdown(&self) {
        if let Err(err) = self.provider.shutdown() {
            tracing::warn!(error = %err, "the span exporter did not shut down cleanly");
        }
    }
}

/// The provider every tracer here is built from: the service's resource (`service.name`
/// is overridable by `OTEL_SERVICE_NAME`, as everywhere), the sampler, and the recent
/// hops' processor (first: it sees each span as it ends, before any exporter).
fn provider_builder(
    replica: &str,
    sample: f64,
    boards: &[String],
    recent: &Arc<recent::Recent>,
) -> opentelemetry_sdk::trace::TracerProviderBuilder {
    let resource = Resource::builder()
        .with_service_name(std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "realtime-board".into()))
        .with_attribute(KeyValue::new("service.instance.id", replica.to_owned()))
        .build();
    SdkTracerProvider::builder()
        .with_resource(resource)
        .with_sampler(sampler::sampler(sample, boards))
        .with_span_processor(recent::Keep(recent.clone()))
}

/// The OTLP exporter over HTTP to `endpoint` (a base URL: `/v1/traces` is appended), in
/// protobuf or (`json`) JSON.
fn otlp(endpoint: &str, json: bool) -> Result<opentelemetry_otlp::SpanExporter, crate::BoxError> {
    use opentelemetry_otlp::{Protocol, WithExportConfig};
    let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
    let protocol = if json { Protocol::HttpJson } else { Protocol::HttpBinary };
    Ok(opentelemetry_otlp::SpanExporter::builder().with_http().with_endpoint(url).with_protocol(protocol).build()?)
}
