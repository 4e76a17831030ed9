// What walking a board's history costs a person: the time from moving the history slider
// to the page showing the board at that seq, and the bytes it fetched. A program that
// prints figures, not a test: it fails only when the page does not show the seq asked for.
//
//   cargo build --release -p server && scripts/build-site --release
//   node e2e/bench/history.mjs --todos 4000 --changes 10000 --steps 100
//
// It starts the release server (as page-load.mjs does) with the defaults that matter here
// (`SNAPSHOT_EVERY` 1000, `LOG_RETAIN` 10,000), fills a board with `--todos` todos and
// then renames, moves and status changes up to `--changes` changes, opens the board in
// Debian's Chromium and sets the slider (as a person's drag or key press does: its value,
// then an `input` event) to `--steps` seqs, each in two ways:
//
// * **jump**: a seq far from the last one, so the page fetches a new window of the log
//   (`GET /history?at=N&then=200`: the board at N and 200 changes after it). The time
//   includes the 120 ms the page waits for the slider to rest before it asks.
// * **step**: the next seq, inside the window the page holds: no request, the window's
//   events replayed in the browser by the shared reducer.
//
// Each time runs until the page says `data-history-seq="N"` *and* its caption names seq N,
// observed in the page itself. Bytes are what the network carried for `/history`
// requests (Chromium's `encodedDataLength`: compressed, headers included).
//
// Bounded: at most 5,000 todos, 20,000 changes and 500 steps, a 15-minute deadline,
// loopback only.

import { existsSync } from 'node:fs';
import { boardOfTodos, deadline, kb, launchChromium, ms, parseOptions, post, startServer, stats, stopServer, within } from './support.mjs';

const usage = `usage: node e2e/bench/history.mjs [--todos N] [--changes N] [--steps N] [--port P] [--server BIN] [--site DIR]`;

function options(argv) {
  const o = parseOptions(argv, {
    todos: 4000,
    changes: 10_000,
    steps: 100,
    port: 3391,
  }, usage);
  if (!within(o.todos, 10, 5000)) throw new Error('--todos: 10 to 5000');
  if (!within(o.changes, o.todos + 10, 20_000)) throw new Error('--changes: more than --todos, at most 20000');
  if (!within(o.steps, 1, 500)) throw new Error('--steps: 1 to 500');
  if (!existsSync(o.server)) throw new Error(`no server binary at ${o.server} (cargo build --release -p server)`);
  return o;
}

const checkDeadline = deadline(15);

/** A board of `todos` todos and a log of `changes` changes. */
async function fill(base, o) {
  const board = await boardOfTodos(base, 'History bench', o.todos, checkDeadline);
  const ids = (await (await fetch(`${base}/api/boards/${board}`)).json()).todos.map((t) => t.id);
  let seq = o.todos;
  for (let i = 0; seq < o.changes; i++) {
    if (i % 500 === 0) checkDeadline();
    const id = ids[(i * 7919) % ids.length];
    const command = [
      { type: 'rename_todo', id, title: `renamed ${i}` },
      { type: 'move_todo', id, sprint_id: null, position: (i * 31) % o.todos },
      { type: 'set_todo_status', id, status: ['todo', 'doing', 'done'][Math.floor((i % 9) / 3)] },
    ][i % 3];
    seq = (await post(base, board, command)).seq;
  }
  return board;
}

/** Sets the slider to `seq` as a person would, and waits until the page shows that seq. */
async function show(page, seq) {
  return page.evaluate(async (seq) => {
    const slider = document.querySelector('[data-history-seq]');
    const caption = () => document.querySelector('[data-history-caption]')?.textContent ?? '';
    const t0 = performance.now();
    slider.value = String(seq);
    slider.dispatchEvent(new Event('input', { bubbles: true }));
    await new Promise((resolve, reject) => {
      const done = () => slider.getAttribute('data-history-seq') === String(seq) && caption().includes(`seq ${seq} at`);
      if (done()) return resolve();
      const observer = new MutationObserver(() => {
        if (done()) {
          observer.disconnect();
          resolve();
        }
      });
      observer.observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
      setTimeout(() => reject(new Error(`seq ${seq} not shown in 20 s`)), 20_000);
    });
    return performance.now() - t0;
  }, seq);
}

async function main() {
  const o = options(process.argv.slice(2));
  const running = await startServer(o, { COMMANDS_PER_MINUTE: '1000000', HISTORY_PER_MINUTE: '1000000' });
  const { base } = running;
  const browser = await launchChromium();
  try {
    const filling = Date.now();
    const board = await fill(base, o);
    const head = (await (await fetch(`${base}/api/boards/${board}`)).json()).seq;
    console.log(`history: a board of ${o.todos} todos with ${head} changes, filled in ${((Date.now() - filling) / 1000).toFixed(0)} s`);

    const context = await browser.newContext({ baseURL: base });
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    const urls = new Map();
    const fetched = [];
    cdp.on('Network.responseReceived', ({ requestId, response }) => urls.set(requestId, response.url));
    cdp.on('Network.loadingFinished', ({ requestId, encodedDataLength }) => {
      if ((urls.get(requestId) ?? '').includes('/history?')) fetched.push(encodedDataLength);
    });
    await page.goto(`/boards/${board}?pattern=event-diff&transport=sse`);
    await page.waitForSelector('[data-board-seq][data-conn="live"]', { timeout: 60_000 });

    // Where history starts (the log may have been pruned a little past LOG_RETAIN).
    const { floor } = await (await fetch(`${base}/api/boards/${board}/history?at=${head}`)).json();
    const span = head - 2 - floor;
    const jumps = [];
    const steps = [];
    let last = 0;
    for (let i = 0; i < o.steps; i++) {
      checkDeadline();
      // Far from the last seq (more than a window away), spread over the whole log.
      let at = floor + 1 + ((i * 7919 + 4099) % span);
      if (Math.abs(at - last) <= 400) at = floor + 1 + ((at - floor + span / 2) % span);
      at = Math.floor(at);
      const before = fetched.length;
      const jumped = await show(page, at);
      if (fetched.length === before) continue; // below the floor, or already held: not a jump
      jumps.push(jumped);
      steps.push(await show(page, at + 1));
      last = at + 1;
    }
    if (jumps.length === 0) throw new Error('no jump fetched a window');
    const j = stats(jumps);
    const s = stats(steps);
    const b = stats(fetched);
    console.log(`  jump to a seq outside the held window (fetch, 120 ms settle included), ${jumps.length} jumps:`);
    console.log(`    p50 ${ms(j.p50)}, p99 ${ms(j.p99)}, max ${ms(j.max)}`);
    console.log(`  step to the next seq inside the window (replayed in the browser), ${steps.length} steps:`);
    console.log(`    p50 ${ms(s.p50)}, p99 ${ms(s.p99)}, max ${ms(s.max)}`);
    console.log(`  bytes per window fetched (on the wire, compressed, headers included): p50 ${kb(b.p50)}, max ${kb(b.max)}`);
    await context.close();
  } finally {
    await browser.close();
    await stopServer(running);
  }
}

main().catch((err) => {
  console.error(`history: ${err.message ?? err}`);
  process.exit(1);
});
