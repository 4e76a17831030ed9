// A small OpenTelemetry receiver of our own, for the end-to-end tests: no collector or
// Jaeger binary can be installed on the machines this project is built on (neither is in
// Debian, and no image registry is reachable), so the e2e server exports its spans here
// (OTLP/HTTP with JSON bodies: OTEL_EXPORTER_OTLP_PROTOCOL=http/json) and the tests ask
// what arrived. docs/observability.md shows a real collector's configuration.
//
//   POST /v1/traces     an OTLP/HTTP JSON export (protobuf is refused with 415)
//   GET  /traces/{id}   the spans received for trace `id` (32 hex digits), oldest first
//   GET  /healthz       200 once listening
//
// Bounded: a body of at most 4 MiB (413), and the newest 20,000 spans are kept.
import http from 'node:http';

const PORT = Number(process.env.E2E_OTLP_PORT ?? 3198);
const MAX_BODY = 4 * 1024 * 1024;
const KEPT = 20_000;
/** Every span kept, oldest first: {trace, span, parent, name, kind, replica, start, end}. */
const spans = [];

/** An OTLP attribute list's value for `key`, as a string. */
function attribute(list, key) {
  const found = (list ?? []).find((a) => a.key === key);
  if (!found) return undefined;
  const v = found.value ?? {};
  return v.stringValue ?? v.intValue ?? v.boolValue ?? v.doubleValue;
}

function keep(exported) {
  for (const resource of exported.resourceSpans ?? []) {
    const replica = attribute(resource.resource?.attributes, 'service.instance.id');
    for (const scope of resource.scopeSpans ?? []) {
      for (const s of scope.spans ?? []) {
        spans.push({
          trace: String(s.traceId ?? '').toLowerCase(),
          span: String(s.spanId ?? '').toLowerCase(),
          parent: String(s.parentSpanId ?? '').toLowerCase(),
          name: s.name,
          kind: s.kind,
          replica: attribute(s.attributes, 'board.replica') ?? replica,
          start: String(s.startTimeUnixNano ?? ''),
          end: String(s.endTimeUnixNano ?? ''),
        });
      }
    }
  }
  if (spans.length > KEPT) spans.splice(0, spans.length - KEPT);
}

function answer(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/healthz') return answer(res, 200, { spans: spans.length });
  const asked = req.method === 'GET' && /^\/traces\/([0-9a-f]{32})$/.exec(req.url ?? '');
  if (asked) return answer(res, 200, spans.filter((s) => s.trace === asked[1]));
  if (req.method !== 'POST' || req.url !== '/v1/traces') return answer(res, 404, { error: 'no such route' });
  if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) {
    return answer(res, 415, { error: 'this receiver reads OTLP/HTTP JSON (OTEL_EXPORTER_OTLP_PROTOCOL=http/json)' });
  }
  const chunks = [];
  let size = 0;
  req.on('data', (chunk) => {
    size += chunk.length;
    if (size > MAX_BODY) {
      answer(res, 413, { error: 'an export of at most 4 MiB' });
      req.destroy();
    } else chunks.push(chunk);
  });
  req.on('end', () => {
    if (res.writableEnded) return;
    try {
      keep(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      answer(res, 200, {});
    } catch (err) {
      answer(res, 400, { error: `not an OTLP JSON export: ${err}` });
    }
  });
});
server.listen(PORT, '127.0.0.1');
