// The wire inspector counts what the network carried. For three changes on each pattern,
// the inspector's running total (`data-wire-bytes`) grows by exactly the bytes the browser's
// network layer recorded for this tab's sync traffic: the bodies of its requests and their
// answers (pulls, polls, backfills), SSE messages' data and WebSocket messages. What neither
// counts, and the closing figures leave out: HTTP headers (printed below per request),
// SSE's `id:`/`data:` framing, WebSocket frame headers and compression.
import { test, expect, Page, BrowserContext } from '@playwright/test';
import { createBoard, command, expectConverged, HYDRATION_MS } from './helpers';

/** The sync engine's requests: state, snapshots, the log, commands, polls, signals, trace reports. */
const SYNC = /\/api\/boards\/[^/?]+(\/(snapshots\/\d+|changes|commands|poll|long-poll|signal|traces\/[0-9a-f]{32}\/apply))?(\?|$)/;

type Meter = { recording: boolean; bytes: number; requests: number; headers: number; items: string[] };

/** Opens the board with the network watched from the first request. */
async function openWatched(context: BrowserContext, board: string, pattern: string, transport: string) {
  const page = await context.newPage();
  const meter: Meter = { recording: false, bytes: 0, requests: 0, headers: 0, items: [] };
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  cdp.on('Network.eventSourceMessageReceived', (e: { data: string }) => {
    if (!meter.recording) return;
    meter.bytes += Buffer.byteLength(e.data);
    meter.items.push(`sse ${Buffer.byteLength(e.data)} ${e.data.slice(0, 60)}`);
  });
  page.on('websocket', (ws) => {
    for (const way of ['framereceived', 'framesent'] as const) {
      ws.on(way, (f) => {
        if (!meter.recording) return;
        meter.bytes += Buffer.byteLength(f.payload as string);
        meter.items.push(`${way} ${Buffer.byteLength(f.payload as string)}`);
      });
    }
  });
  page.on('requestfinished', async (request) => {
    if (!meter.recording || request.resourceType() === 'eventsource' || !SYNC.test(request.url())) return;
    // The handler reads the response after the fact: if the page closes meanwhile (the
    // test is over; its poller was still polling), there is nothing left to count, and a
    // rejection here would surface in whichever test runs next. (A request the open page
    // made and this missed shows anyway: the test compares its bytes with the inspector's.)
    try {
      const response = await request.response();
      if (!response) return;
      const body = await response.body().catch(() => Buffer.alloc(0));
      const sizes = await request.sizes();
      meter.requests += 1;
      meter.bytes += body.length + (request.postDataBuffer()?.length ?? 0);
      meter.items.push(`${request.method()} ${request.url()} ${response.status()} ${body.length}`);
      meter.headers += sizes.requestHeadersSize + sizes.responseHeadersSize;
    } catch {
      return;
    }
  });
  await page.goto(`/boards/${board}?pattern=${pattern}&transport=${transport}&poll_ms=250`);
  const root = page.locator('[data-board-seq]');
  await expect(root).toHaveAttribute('data-hydrated', 'true', { timeout: HYDRATION_MS });
  await expect(root).toHaveAttribute('data-conn', 'live', { timeout: HYDRATION_MS });
  return { page, meter };
}

async function wireBytes(page: Page): Promise<number> {
  return Number(await page.locator('[data-wire-bytes]').getAttribute('data-wire-bytes'));
}

for (const [pattern, transport] of [
  ['poke-pull', 'sse'],
  ['push-state', 'long-poll'],
  ['push-ops', 'ws'],
  ['push-events', 'sse'],
  ['event-diff', 'poll'],
]) {
  test(`${pattern} over ${transport}: the inspector's bytes are the network's`, async ({ browser, request }) => {
    const board = await createBoard(request, `Wire ${pattern}`);
    const context = await browser.newContext();
    const { page, meter } = await openWatched(context, board, pattern, transport);
    // From a quiet moment: the inspector's total now, the network's from now.
    await page.waitForTimeout(300);
    meter.recording = true;
    const before = await wireBytes(page);
    for (const title of ['one', 'two', 'three']) await command(request, board, { type: 'add_todo', title });
    await expectConverged(request, board, [page], 3);
    // Both sides settle: the last answer (a poll's, a pull's) is in on each.
    try {
      await expect
        .poll(async () => (await wireBytes(page)) - before, { timeout: 10_000 })
        .toBe(meter.bytes);
    } catch (err) {
      // What each side saw, to find which message one of them missed.
      const rows = await page.locator('[data-wire] tbody tr').allTextContents();
      console.log(`network: ${JSON.stringify(meter.items, null, 1)}\ninspector: ${JSON.stringify(rows, null, 1)}`);
      throw err;
    }
    const counted = (await wireBytes(page)) - before;
    expect(counted).toBeGreaterThan(0);
    console.log(
      `${pattern} over ${transport}: 3 changes, inspector ${counted} B = network ${meter.bytes} B of bodies and messages; ` +
        `${meter.requests} requests, whose headers add ${meter.headers} B`,
    );
    // Done measuring, and done polling: closed here, not after the test, so no request of
    // this page is still being read when the next test starts.
    meter.recording = false;
    await context.close();
  });
}

test('the compare page gives each pattern its cost per change, and the poll pane waits between polls', async ({
  page,
  request,
}) => {
  const board = await createBoard(request, 'Wire compare');
  await page.goto(`/boards/${board}/compare`);
  await expect(page.locator('section.compare')).toHaveAttribute('data-hydrated', 'true', { timeout: HYDRATION_MS });
  for (let i = 0; i < 5; i++) await expect(page.locator('.pane-wrap').nth(i).locator('[data-board-seq]')).toHaveAttribute('data-conn', 'live');
  for (const title of ['a', 'b', 'c']) await command(request, board, { type: 'add_todo', title });
  const panes = page.locator('.pane-wrap');
  for (let i = 0; i < 5; i++) await expect(panes.nth(i).locator('[data-board-seq]')).toHaveAttribute('data-board-seq', '3');
  const perChange: number[] = [];
  for (let i = 0; i < 5; i++) {
    await expect(panes.nth(i).locator('.pane-costs')).toContainText('3 change(s)');
    perChange.push(Number(await panes.nth(i).locator('[data-bytes-per-change]').getAttribute('data-bytes-per-change')));
  }
  console.log(`bytes per change: poke-pull ${perChange[0]}, push-state ${perChange[1]}, push-ops ${perChange[2]}, push-events ${perChange[3]}, event-diff ${perChange[4]}`);
  // Every poke pulled the whole board: poke-pull costs at least as much per change as the
  // board it pulls, where the events cost a fraction of it.
  expect(perChange[0]).toBeGreaterThan(perChange[3]);
  expect(perChange.every((b) => b > 0)).toBe(true);
  // The poll pane (1 s interval) is behind right after a change, and says why rather than
  // calling it a fault. (A poll can land right after a change: a few tries.)
  const verdict = panes.nth(0).locator('[data-agreement]');
  let seen = false;
  for (let tries = 0; tries < 4 && !seen; tries++) {
    await command(request, board, { type: 'add_todo', title: `d${tries}` });
    seen = await verdict.evaluate(
      (el) =>
        new Promise<boolean>((resolve) => {
          const done = (v: boolean) => { observer.disconnect(); resolve(v); };
          const observer = new MutationObserver(() => el.getAttribute('data-agreement') === 'between-polls' && done(true));
          observer.observe(el, { attributes: true });
          if (el.getAttribute('data-agreement') === 'between-polls') done(true);
          setTimeout(() => done(false), 1500);
        }),
    );
    await expect(verdict).toHaveAttribute('data-agreement', 'converged', { timeout: 5_000 });
  }
  expect(seen, 'the poll pane said "between polls"').toBe(true);
});
