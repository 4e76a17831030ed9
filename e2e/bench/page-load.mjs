// What a cold page load costs: the server's CPU, the bytes on the wire, and the time until
// the page is usable. A program that prints figures, not a test: it fails only when a load
// does not complete.
//
//   cargo build --release -p server && scripts/build-site --release
//   node e2e/bench/page-load.mjs --loads 20
//
// It starts the server it is given (by default `$CARGO_TARGET_DIR/release/server` serving
// `$CARGO_TARGET_DIR/site`) on 127.0.0.1 with a fresh SQLite database, then opens the demo
// board `--loads` times in Debian's Chromium, each time in a fresh browser context, so that
// nothing is cached: every load fetches the page, the script, the wasm and the stylesheet;
// then once more in the same context, the second visit, which finds in the browser's cache
// whatever the first was allowed to keep. For each load it records:
//
// * **server CPU**: the server process's user + system time (`/proc/<pid>/stat`) from just
//   before the navigation until the page is live. The kernel counts it in 10 ms ticks, so
//   only the sum over many loads means anything; the figure is that sum divided by the
//   loads. The same is measured for the page's HTML alone (`--loads` plain GETs), which
//   tells the page's render apart from the files around it.
// * **bytes**: what the network carried for every request that finished by then, headers
//   included (Chromium's `encodedDataLength`), and for each file its encoding and
//   `Cache-Control`.
// * **time to interactive**: from the navigation's start until the page root says
//   `data-conn="live"` (hydrated, and its stream connected), observed in the page itself.
//
// The second visit's files served from the browser's cache are not counted as bytes (they
// did not cross the network); without `Cache-Control` a browser still keeps a file for a
// tenth of its age (its `Last-Modified`), so a freshly built site is kept for minutes,
// and one built a week ago for most of a day, but revalidated or fetched after that.
//
// One load before the measured ones warms the server (its first render, the board's
// snapshot) and is not counted. Bounded: at most 200 loads, 30 s each, a 10-minute
// deadline; loopback only (the browser resolves no other host).

import { existsSync } from 'node:fs';
import path from 'node:path';
import { cpuMs, kb, launchChromium, ms, startServer, stats, stopServer, target } from './support.mjs';

const usage = `usage: node e2e/bench/page-load.mjs [--loads N] [--port P] [--server BIN] [--site DIR] [--path URL-PATH]
  --loads   cold loads to measure (default 20, at most 200)
  --port    the server's loopback port (default 3390)
  --server  the server binary (default $CARGO_TARGET_DIR/release/server)
  --site    its site root (default $CARGO_TARGET_DIR/site)
  --path    the page (default /boards/demo?pattern=event-diff&transport=sse)`;

function options(argv) {
  const o = {
    loads: 20,
    port: 3390,
    server: path.join(target, 'release', 'server'),
    site: path.join(target, 'site'),
    path: '/boards/demo?pattern=event-diff&transport=sse',
  };
  for (let i = 0; i < argv.length; i += 2) {
    const [name, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(usage);
    switch (name) {
      case '--loads': o.loads = Number(value); break;
      case '--port': o.port = Number(value); break;
      case '--server': o.server = path.resolve(value); break;
      case '--site': o.site = path.resolve(value); break;
      case '--path': o.path = value; break;
      default: throw new Error(usage);
    }
  }
  if (!Number.isInteger(o.loads) || o.loads < 1 || o.loads > 200) throw new Error('--loads: 1 to 200');
  if (!Number.isInteger(o.port) || o.port < 1024 || o.port > 65535) throw new Error('--port: 1024 to 65535');
  if (!existsSync(o.server)) throw new Error(`no server binary at ${o.server} (cargo build --release -p server)`);
  return o;
}

const LOAD_MS = 30_000;
const DEADLINE_MS = 10 * 60_000;
const started = Date.now();
function checkDeadline() {
  if (Date.now() - started > DEADLINE_MS) throw new Error('deadline: 10 minutes');
}

/** Records, in the page, when its root first says it is hydrated and live. */
function watchReadiness() {
  const seen = {};
  const check = () => {
    const root = document.querySelector('[data-board-seq]');
    if (!root) return;
    if (seen.hydrated === undefined && root.getAttribute('data-hydrated') === 'true') seen.hydrated = performance.now();
    if (seen.live === undefined && root.getAttribute('data-conn') === 'live') seen.live = performance.now();
  };
  new MutationObserver(check).observe(document, { subtree: true, childList: true, attributes: true });
  window.__readiness = seen;
}

/** Opens the page in `context`: what it cost the server, what it carried, when it was live. */
async function load(context, o, pid) {
  const page = await context.newPage();
  await page.addInitScript(watchReadiness);
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  const requests = new Map();
  cdp.on('Network.responseReceived', ({ requestId, response, type }) => {
    const h = Object.fromEntries(Object.entries(response.headers).map(([k, v]) => [k.toLowerCase(), v]));
    requests.set(requestId, {
      url: response.url,
      type,
      status: response.status,
      encoding: h['content-encoding'] ?? 'identity',
      cache: h['cache-control'] ?? '-',
    });
  });
  cdp.on('Network.loadingFinished', ({ requestId, encodedDataLength }) => {
    const r = requests.get(requestId);
    if (r) r.bytes = encodedDataLength;
  });
  // A file from the browser's cache carried nothing (it finishes with 0 bytes).

  const before = cpuMs(pid);
  await page.goto(o.path, { timeout: LOAD_MS });
  await page.waitForFunction(() => window.__readiness?.live !== undefined, null, { timeout: LOAD_MS, polling: 50 });
  const cpu = cpuMs(pid) - before;
  const readiness = await page.evaluate(() => window.__readiness);
  const finished = [...requests.values()].filter((r) => r.bytes !== undefined);
  return {
    cpu,
    bytes: finished.reduce((sum, r) => sum + r.bytes, 0),
    hydrated: readiness.hydrated,
    live: readiness.live,
    files: finished,
  };
}

/** A cold load in a fresh context (nothing cached), then a second page of the same
 * browser: the visit after, with whatever the first left in the cache. */
async function coldAndWarm(browser, base, o, pid) {
  const context = await browser.newContext({ baseURL: base });
  try {
    const cold = await load(context, o, pid);
    const warm = await load(context, o, pid);
    return { cold, warm };
  } finally {
    await context.close();
  }
}

/** The page's HTML alone, `n` times: its render and compression, nothing around it. */
async function htmlOnly(base, o, pid, n) {
  const before = cpuMs(pid);
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    checkDeadline();
    const r = await fetch(`${base}${o.path}`, {
      headers: { 'accept-encoding': 'gzip, deflate, br, zstd', accept: 'text/html' },
      signal: AbortSignal.timeout(LOAD_MS),
    });
    bytes += (await r.arrayBuffer()).byteLength;
  }
  return { cpu: (cpuMs(pid) - before) / n, bytes: bytes / n };
}

async function main() {
  const o = options(process.argv.slice(2));
  const { server, base, data } = await startServer(o);
  const browser = await launchChromium();
  try {
    await coldAndWarm(browser, base, o, server.pid); // warm-up, not counted
    const runs = [];
    for (let i = 0; i < o.loads; i++) {
      checkDeadline();
      runs.push(await coldAndWarm(browser, base, o, server.pid));
    }
    const html = await htmlOnly(base, o, server.pid, o.loads);

    console.log(`page-load: ${o.loads} cold loads of ${o.path}, each followed by a second visit`);
    console.log(`  server:  ${o.server}`);
    console.log(`  site:    ${o.site}`);
    console.log(`  the page's HTML alone costs the server ${ms(html.cpu)} of CPU, ${kb(html.bytes)} (${o.loads} GETs)`);
    for (const kind of ['cold', 'warm']) {
      const loads = runs.map((r) => r[kind]);
      const cpu = loads.reduce((sum, l) => sum + l.cpu, 0) / loads.length;
      const bytes = stats(loads.map((l) => l.bytes));
      const live = stats(loads.map((l) => l.live));
      const hydrated = stats(loads.map((l) => l.hydrated));
      console.log(kind === 'cold' ? 'cold load (a fresh browser context):' : 'second visit (the same context):');
      console.log(`  server CPU per load:         ${ms(cpu)}`);
      console.log(`  bytes transferred per load:  ${kb(bytes.mean)} (min ${kb(bytes.min)}, max ${kb(bytes.max)})`);
      console.log(`  time to hydrated:            p50 ${ms(hydrated.p50)}, p90 ${ms(hydrated.p90)}, min ${ms(hydrated.min)}, max ${ms(hydrated.max)}`);
      console.log(`  time to interactive (live):  p50 ${ms(live.p50)}, p90 ${ms(live.p90)}, min ${ms(live.min)}, max ${ms(live.max)}`);
    }
    for (const kind of ['cold', 'warm']) {
      console.log(`what the last ${kind === 'cold' ? 'cold load' : 'second visit'} fetched (bytes on the wire, headers included):`);
      for (const f of runs[runs.length - 1][kind].files) {
        const name = new URL(f.url).pathname.slice(0, 48);
        const size = f.bytes === 0 ? 'cached' : kb(f.bytes);
        console.log(`  ${String(f.status).padEnd(4)}${name.padEnd(50)}${size.padStart(11)}  ${f.encoding.padEnd(9)}${f.cache}`);
      }
    }
  } finally {
    await browser.close();
    await stopServer({ server, data });
  }
}

main().catch((err) => {
  console.error(`page-load: ${err.message ?? err}`);
  process.exit(1);
});
