// What the browser's local copy costs and gives: how soon a board page opened with no
// network shows the board from the copy, how much the copy takes, and how long the
// commands queued offline take to go once the network is back, each applied once. A
// program that prints figures, not a test: it fails only when the page does not show what
// it should, or the server does not hold each queued command exactly once.
//
//   cargo build --release -p server && scripts/build-site --release
//   node e2e/bench/local-first.mjs --todos 4000 --queued 1000 --runs 5
//
// It starts the release server (as history.mjs does), fills a board with `--todos` todos,
// opens it in Debian's Chromium (the service worker keeps the page and the shell, the
// engine the board in IndexedDB), then:
//
// * **first render from the copy**, `--runs` times: the network goes, the page reloads
//   (the service worker answers from its cache) and the time runs from the navigation's
//   start to the page root saying `data-local-copy` (the engine showed the copy), and to
//   its first contentful paint (the cached page's own board, before the script runs).
// * **size stored**: the board's record and the browser's own estimate of the origin's use.
// * **sending the queue**: `--queued` commands written into the copy's outbox (as a page
//   offline would have), the page reloaded offline (it shows them all pending), then the
//   network returns; the time runs until the page counts none pending, over `POST` (an SSE
//   page) and up a WebSocket. The server must then hold each command once, in order.
//
// Bounded: at most 5,000 todos, 2,000 queued commands and 20 runs, a 10-minute deadline,
// loopback only.

import { existsSync } from 'node:fs';
import { boardOfTodos, deadline, kb, launchChromium, ms, parseOptions, startServer, stats, stopServer, within } from './support.mjs';

const usage = `usage: node e2e/bench/local-first.mjs [--todos N] [--queued N] [--runs N] [--port P] [--server BIN] [--site DIR]`;

function options(argv) {
  const o = parseOptions(argv, {
    todos: 4000,
    queued: 1000,
    runs: 5,
    port: 3392,
  }, usage);
  if (!within(o.todos, 1, 5000)) throw new Error('--todos: 1 to 5000');
  if (!within(o.queued, 1, 2000)) throw new Error('--queued: 1 to 2000');
  if (!within(o.runs, 1, 20)) throw new Error('--runs: 1 to 20');
  if (!existsSync(o.server)) throw new Error(`no server binary at ${o.server} (cargo build --release -p server)`);
  return o;
}

const checkDeadline = deadline(10);

/** In the page: when (ms since the navigation began) the root first said `data-local-copy`. */
function watchLocalCopy() {
  new MutationObserver((_, observer) => {
    if (document.querySelector('[data-local-copy]')) {
      window.__localCopyAt = performance.now();
      observer.disconnect();
    }
  }).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-local-copy'] });
}

/** In the page: the board's record in IndexedDB (its seq and the bytes of its JSON). */
function keptBoard(board) {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open('realtime-board');
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const get = open.result.transaction('boards').objectStore('boards').get(board);
      get.onsuccess = () => resolve(get.result ? { seq: get.result.seq, bytes: get.result.json.length } : null);
      get.onerror = () => reject(get.error);
    };
  });
}

/** In the page: writes `count` add_todo commands into the board's outbox, as a page that
 * made them offline would have. */
function queue({ board, count }) {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open('realtime-board');
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const tx = open.result.transaction('outbox', 'readwrite');
      const store = tx.objectStore('outbox');
      const now = Date.now();
      for (let i = 0; i < count; i++) {
        const key = `bench${String(i).padStart(6, '0')}${Math.random().toString(16).slice(2, 12)}`;
        const pending = { key, command: { type: 'add_todo', title: `queued ${i}` }, seq: null, made_at: now - count + i };
        store.put({ key, board, json: JSON.stringify(pending) });
      }
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
    };
  });
}

/** Waits until the service worker runs and keeps the page of `board` (it fetches the
 * pages open when it starts again), so that it can be opened with no network. */
async function pageKept(page, board) {
  await page.waitForFunction(
    async (path) => {
      if (!navigator.serviceWorker.controller) return false;
      for (const name of await caches.keys()) {
        if (name.startsWith('pages-') && (await (await caches.open(name)).match(location.origin + path))) return true;
      }
      return false;
    },
    `/boards/${board}`,
    { timeout: 30_000, polling: 100 },
  );
}

async function live(page) {
  await page.waitForSelector('[data-board-seq][data-conn="live"]', { timeout: 60_000 });
}

async function firstRender(context, page, board, o) {
  const head = (await (await fetch(`${new URL(page.url()).origin}/api/boards/${board}`)).json()).seq;
  // The copy is written at most once a second: wait for it to reach the head.
  for (let i = 0; ; i++) {
    const kept = await page.evaluate(keptBoard, board);
    if (kept?.seq === head) break;
    if (i > 100) throw new Error(`the local copy did not reach seq ${head}`);
    await page.waitForTimeout(100);
  }
  const kept = await page.evaluate(keptBoard, board);
  const usage = await page.evaluate(async () => (await navigator.storage.estimate()).usage ?? 0);
  const shown = [];
  const painted = [];
  await context.setOffline(true);
  for (let run = 0; run < o.runs; run++) {
    checkDeadline();
    await page.reload();
    await page.waitForSelector(`[data-local-copy="${head}"]`, { timeout: 60_000 });
    shown.push(await page.evaluate(() => window.__localCopyAt));
    painted.push(await page.evaluate(() => performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN));
  }
  await context.setOffline(false);
  await live(page);
  const s = stats(shown);
  const p = stats(painted);
  console.log(`  first render from the local copy, ${o.todos} todos, offline, ${o.runs} runs (from the navigation's start):`);
  console.log(`    the copy shown (data-local-copy): p50 ${ms(s.p50)}, max ${ms(s.max)}`);
  console.log(`    first contentful paint of the kept page: p50 ${ms(p.p50)}, max ${ms(p.max)}`);
  console.log(`  stored: the board's record ${kb(kept.bytes)} (JSON); the origin's use by the browser's estimate ${kb(usage)}`);
}

async function sendQueue(browser, base, o, transport) {
  const board = await boardOfTodos(base, `Queue bench ${transport}`, 0, checkDeadline);
  const context = await browser.newContext({ baseURL: base });
  const page = await context.newPage();
  await page.goto(`/boards/${board}?pattern=push-ops&transport=${transport}`);
  await live(page);
  await pageKept(page, board);
  await context.setOffline(true);
  await page.waitForSelector('[data-board-seq][data-connection="offline"]');
  await page.evaluate(queue, { board, count: o.queued });
  await page.reload();
  await page.waitForSelector(`[data-pending-count="${o.queued}"]`, { timeout: 60_000 });
  const back = Date.now();
  await context.setOffline(false);
  await page.waitForSelector('[data-pending-count="0"]', { timeout: 5 * 60_000 });
  const took = Date.now() - back;
  const todos = (await (await fetch(`${base}/api/boards/${board}`)).json()).todos.map((t) => t.title);
  const expected = Array.from({ length: o.queued }, (_, i) => `queued ${i}`);
  if (JSON.stringify(todos) !== JSON.stringify(expected)) {
    throw new Error(`${transport}: the server holds ${todos.length} todos, not the ${o.queued} queued, each once, in order`);
  }
  console.log(`  ${o.queued} queued commands sent after the network returned (${transport}): ${ms(took)}, ${(o.queued / (took / 1000)).toFixed(0)} a second, each applied once, in order`);
  await context.close();
}

async function main() {
  const o = options(process.argv.slice(2));
  const running = await startServer(o, { COMMANDS_PER_MINUTE: '1000000' });
  const { base } = running;
  const browser = await launchChromium();
  try {
    const filling = Date.now();
    const board = await boardOfTodos(base, 'Local-first bench', o.todos, checkDeadline);
    console.log(`local-first: a board of ${o.todos} todos, filled in ${((Date.now() - filling) / 1000).toFixed(0)} s`);
    const context = await browser.newContext({ baseURL: base });
    await context.addInitScript(watchLocalCopy);
    const page = await context.newPage();
    await page.goto(`/boards/${board}?pattern=event-diff&transport=sse`);
    await live(page);
    // The service worker keeps the page once it runs (it fetches the open pages again).
    await pageKept(page, board);
    await firstRender(context, page, board, o);
    await context.close();
    for (const transport of ['sse', 'ws']) await sendQueue(browser, base, o, transport);
  } finally {
    await browser.close();
    await stopServer(running);
  }
}

main().catch((err) => {
  console.error(`local-first: ${err.message ?? err}`);
  process.exit(1);
});
