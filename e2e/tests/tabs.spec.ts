// No tab left behind: over HTTP/1.1 a browser opens six connections to an origin, and
// each SSE stream holds one. Before link::shared, the seventh tab of a board on SSE never
// loaded (its page request waited behind six streams). Now a browser holds at most four
// streams; further tabs follow a relaying tab over a BroadcastChannel, poll the server
// every 5 s beside it, and take a stream of their own when one is free.
import { test, expect, Page } from '@playwright/test';
import { command, createBoard, expectConverged, open, addTodo } from './helpers';

const TABS = 12;
/** The browser's streams (`link::shared::STREAMS`). */
const STREAMS = 4;

test.afterEach(async ({ browser }) => {
  await Promise.all(browser.contexts().map((context) => context.close().catch(() => {})));
});

/** How each tab's stream reaches it, as its page says (`data-stream`). */
async function streams(pages: Page[]) {
  return Promise.all(pages.map((p) => p.locator('[data-board-seq]').getAttribute('data-stream')));
}

test(`${TABS} tabs of one board on SSE in one browser all load and stay live`, async ({ browser, request }) => {
  // Twelve pages hydrating one after another on two cores.
  test.setTimeout(300_000);
  const board = await createBoard(request, 'Many tabs');
  const context = await browser.newContext();
  const pages: Page[] = [];
  for (let i = 0; i < TABS; i++) {
    // `open` waits until the page runs and its connection is live: the seventh used to wait for ever.
    pages.push(await open(context, board, 'event-diff', 'sse'));
  }
  // Four tabs stream; the rest hear a relay (each one's first answer comes from its poll,
  // and the relay answers its ask at once).
  await expect
    .poll(async () => (await streams(pages)).filter((s) => s === 'own').length, { timeout: 20_000 })
    .toBe(STREAMS);
  for (const page of pages) {
    await expect(page.locator('[data-board-seq]')).toHaveAttribute('data-stream', /own|relayed/, { timeout: 20_000 });
  }
  const followers = pages.filter((_, i) => i >= STREAMS);
  await expect(followers[0].locator('[data-stream-words]')).toHaveText('via another tab');

  // A change from outside reaches every tab, and so does one typed in a follower.
  await command(request, board, { type: 'add_todo', title: 'from the API' });
  await expectConverged(request, board, pages);
  await addTodo(followers[followers.length - 1], 'typed in the last tab');
  await expect(pages[0].locator('[data-todo-id]', { hasText: 'typed in the last tab' })).toHaveCount(1);
  await expectConverged(request, board, pages);

  // The streaming tabs close: followers take their slots (they try every 5 s), and the rest
  // follow the new relay. Nothing is missed meanwhile.
  const streaming = [];
  for (const [i, s] of (await streams(pages)).entries()) {
    if (s === 'own') streaming.push(i);
  }
  for (const i of streaming) await pages[i].close();
  const left = pages.filter((_, i) => !streaming.includes(i));
  await command(request, board, { type: 'add_todo', title: 'while the streams moved' });
  await expect
    .poll(async () => (await streams(left)).filter((s) => s === 'own').length, { timeout: 30_000 })
    .toBe(STREAMS);
  for (const page of left) {
    await expect(page.locator('[data-board-seq]')).toHaveAttribute('data-stream', /own|relayed/, { timeout: 20_000 });
  }
  await command(request, board, { type: 'add_todo', title: 'after the move' });
  await expectConverged(request, board, left);
});

test('a page of another board is not held up either: the budget counts the browser, not the board', async ({
  browser,
  request,
}) => {
  test.setTimeout(180_000);
  const boards = [];
  for (let i = 0; i < 7; i++) boards.push(await createBoard(request, `Board ${i}`));
  const context = await browser.newContext();
  const pages: Page[] = [];
  for (const board of boards) pages.push(await open(context, board, 'push-ops', 'sse'));
  // No tab streams the last three boards, so their tabs ask every 5 s and say so.
  expect((await streams(pages)).filter((s) => s === 'own').length).toBe(STREAMS);
  const waiting = pages[pages.length - 1];
  await expect(waiting.locator('[data-board-seq]')).toHaveAttribute('data-stream', 'waiting');
  await expect(waiting.locator('[data-stream-words]')).toHaveText('checking every 5 s');
  await command(request, boards[boards.length - 1], { type: 'add_todo', title: 'reaches a waiting tab' });
  await expectConverged(request, boards[boards.length - 1], [waiting]);
  // One streaming tab closes: the waiting tab streams within one try (5 s).
  await pages[0].close();
  await expect
    .poll(async () => (await streams(pages.slice(1))).filter((s) => s === 'own').length, { timeout: 15_000 })
    .toBe(STREAMS);
});

test(`over HTTP/2 (the server's own TLS) ${TABS} tabs each stream for themselves on one connection`, async ({
  browser,
}) => {
  test.setTimeout(300_000);
  // playwright.config.ts starts this server with a certificate it made for localhost.
  const base = `https://localhost:${process.env.E2E_TLS_PORT ?? 3143}`;
  const context = await browser.newContext({ baseURL: base, ignoreHTTPSErrors: true });
  const board = await createBoard(context.request, 'Many tabs over HTTP/2');
  const pages: Page[] = [];
  for (let i = 0; i < TABS; i++) pages.push(await open(context, board, 'event-diff', 'sse'));
  const protocol = await pages[TABS - 1].evaluate(
    () => (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming).nextHopProtocol,
  );
  expect(protocol).toBe('h2');
  // No budget: one connection carries every stream, so every tab has its own.
  expect(await streams(pages)).toEqual(Array(TABS).fill('own'));
  await command(context.request, board, { type: 'add_todo', title: 'over HTTP/2' });
  await expectConverged(context.request, board, pages);
});

test(`${TABS} tabs on WebSocket in one browser each keep a socket of their own and stay live`, async ({
  browser,
  request,
}) => {
  // WebSockets are not in the browser's six HTTP/1.1 connections (Chromium pools them
  // apart), so link::shared leaves them alone: every tab has its own socket.
  test.setTimeout(300_000);
  const board = await createBoard(request, 'Many socket tabs');
  const context = await browser.newContext();
  const pages: Page[] = [];
  for (let i = 0; i < TABS; i++) pages.push(await open(context, board, 'push-ops', 'ws'));
  expect(await streams(pages)).toEqual(Array(TABS).fill('own'));
  await command(request, board, { type: 'add_todo', title: 'to every socket' });
  await expectConverged(request, board, pages);
});
