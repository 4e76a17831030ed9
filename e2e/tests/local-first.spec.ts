// Local-first: a browser's tabs of one board share one outbox. Commands made in any tab
// are pending in every tab; exactly one tab (the holder of a Web Lock) sends them, in the
// order they were made, with their keys; when it closes, another tab takes over. The board
// and the outbox are kept in IndexedDB and the app's shell by a service worker, so closing
// the tab or the whole browser offline loses nothing, and the board opens with no network.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test, expect, Page, chromium } from '@playwright/test';
import { addTodo, command, createBoard, open, expectConverged, state, HYDRATION_MS } from './helpers';

const root = (page: Page) => page.locator('[data-board-seq]');

test('the tabs of one browser show one outbox, and one of them sends it in order', async ({ browser, request }) => {
  const board = await createBoard(request, 'Shared outbox');
  const context = await browser.newContext();
  const a = await open(context, board, 'push-ops', 'sse');
  const b = await open(context, board, 'event-diff', 'ws');
  await expect(root(a)).toHaveAttribute('data-sends-outbox', 'true');
  await expect(root(b)).toHaveAttribute('data-sends-outbox', 'false');

  await context.setOffline(true);
  await expect(root(a)).toHaveAttribute('data-connection', 'offline');
  await addTodo(a, 'a1');
  await addTodo(a, 'a2');
  await addTodo(b, 'b1');
  for (const page of [a, b]) {
    await expect(root(page)).toHaveAttribute('data-pending-count', '3');
    await expect(page.locator('[data-pending="true"]')).toHaveCount(3);
  }

  await context.setOffline(false);
  for (const page of [a, b]) await expect(root(page)).toHaveAttribute('data-pending-count', '0');
  expect((await state(request, board)).todos.map((t) => t.title)).toEqual(['a1', 'a2', 'b1']);
  await expectConverged(request, board, [a, b]);
  await context.close();
});

test('when the tab that sends closes, another takes over and sends what waits, once', async ({
  browser,
  request,
}) => {
  const board = await createBoard(request, 'Hand-over');
  const context = await browser.newContext();
  const a = await open(context, board, 'push-state', 'sse');
  const b = await open(context, board, 'push-ops', 'long-poll');
  await expect(root(a)).toHaveAttribute('data-sends-outbox', 'true');

  await context.setOffline(true);
  await expect(root(b)).toHaveAttribute('data-connection', 'offline');
  await addTodo(b, 'made in the second tab');
  await addTodo(a, 'made in the first');
  await expect(root(b)).toHaveAttribute('data-pending-count', '2');
  await a.close();
  await expect(root(b)).toHaveAttribute('data-sends-outbox', 'true');

  await context.setOffline(false);
  await expect(root(b)).toHaveAttribute('data-pending-count', '0');
  expect((await state(request, board)).todos.map((t) => t.title)).toEqual(['made in the second tab', 'made in the first']);
  await expectConverged(request, board, [b]);
  await context.close();
});

/** How many commands the browser keeps for `board` in IndexedDB (what a restart finds). */
async function storedCommands(page: Page, board: string): Promise<number> {
  return page.evaluate(
    (board) =>
      new Promise<number>((resolve, reject) => {
        const open = indexedDB.open('realtime-board');
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const count = open.result.transaction('outbox').objectStore('outbox').index('board').count(board);
          count.onsuccess = () => resolve(count.result);
          count.onerror = () => reject(count.error);
        };
      }),
    board,
  );
}

test('changes made offline survive closing the tab, and go once from the next one', async ({ browser, request }) => {
  const board = await createBoard(request, 'Closed offline');
  const context = await browser.newContext();
  const first = await open(context, board, 'push-ops', 'ws');
  await context.setOffline(true);
  await expect(root(first)).toHaveAttribute('data-connection', 'offline');
  await addTodo(first, 'written offline');
  await addTodo(first, 'and another');
  await expect(root(first)).toHaveAttribute('data-pending-count', '2');
  await expect.poll(() => storedCommands(first, board)).toBe(2);
  await first.close();

  await context.setOffline(false);
  const next = await open(context, board, 'event-diff', 'sse');
  await expect(root(next)).toHaveAttribute('data-pending-count', '0');
  expect((await state(request, board)).todos.map((t) => t.title)).toEqual(['written offline', 'and another']);
  await expect.poll(() => storedCommands(next, board)).toBe(0);
  await expectConverged(request, board, [next]);
  await context.close();
});

test('a browser without IndexedDB keeps working in memory and says so', async ({ browser, request }) => {
  const board = await createBoard(request, 'No storage');
  const context = await browser.newContext();
  await context.addInitScript(() => {
    Object.defineProperty(window, 'indexedDB', { value: undefined, configurable: true });
  });
  const page = await open(context, board, 'push-ops', 'sse');
  await expect(page.locator('[data-storage="memory"]')).toContainText('not keeping a copy');
  await addTodo(page, 'in memory');
  await expect(root(page)).toHaveAttribute('data-pending-count', '0');
  expect((await state(request, board)).todos.map((t) => t.title)).toEqual(['in memory']);
  await context.close();
});

/** Has the service worker kept the page of `board` (what a start with no network finds)? */
async function pageKept(page: Page, board: string): Promise<boolean> {
  return page.evaluate(async (path) => {
    for (const name of await caches.keys()) {
      if (name.startsWith('pages-') && (await (await caches.open(name)).match(location.origin + path))) return true;
    }
    return false;
  }, `/boards/${board}`);
}

test('a browser closed offline starts again offline: the board renders from its copy with the four pending, and they land once', async ({
  browser,
  request,
}, testInfo) => {
  const board = await createBoard(request, 'Restart offline');
  await command(request, board, { type: 'add_todo', title: 'before' });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'board-profile-'));
  const { launchOptions, baseURL } = testInfo.project.use;
  const launch = (offline: boolean) => chromium.launchPersistentContext(profile, { ...launchOptions, baseURL, offline });
  try {
    let context = await launch(false);
    const a = await open(context, board, 'push-ops', 'sse');
    const b = await open(context, board, 'event-diff', 'ws');
    await expect.poll(() => pageKept(a, board), { timeout: 10_000 }).toBe(true);

    await context.setOffline(true);
    await expect(root(a)).toHaveAttribute('data-connection', 'offline');
    for (const title of ['a1', 'a2', 'a3']) await addTodo(a, title);
    await addTodo(b, 'b1');
    for (const page of [a, b]) await expect(root(page)).toHaveAttribute('data-pending-count', '4');
    await expect.poll(() => storedCommands(a, board)).toBe(4);
    await context.close();

    // The whole browser again, still with no network.
    context = await launch(true);
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto(`/boards/${board}?pattern=push-ops&transport=sse`);
    await expect(root(page)).toHaveAttribute('data-hydrated', 'true', { timeout: HYDRATION_MS });
    await expect(root(page)).toHaveAttribute('data-local-copy', '1');
    await expect(root(page)).toHaveAttribute('data-pending-count', '4');
    await expect(page.locator('[data-pending="true"]')).toHaveCount(4);
    await expect(page.locator('.local-copy')).toContainText('seq 1');

    await context.setOffline(false);
    await expect(root(page)).toHaveAttribute('data-pending-count', '0', { timeout: HYDRATION_MS });
    await expect(root(page)).not.toHaveAttribute('data-local-copy', /.*/);
    expect((await state(request, board)).todos.map((t) => t.title)).toEqual(['before', 'a1', 'a2', 'a3', 'b1']);
    const other = await open(await browser.newContext(), board, 'push-state', 'long-poll');
    await expectConverged(request, board, [page, other]);
    await context.close();
  } finally {
    fs.rmSync(profile, { recursive: true, force: true });
  }
});

test('changes queued more than a day ago wait for the person: send one, discard the other', async ({
  browser,
  request,
}) => {
  const board = await createBoard(request, 'Long absence');
  const context = await browser.newContext();
  // The page's clock can be moved on (a laptop asleep for a day, offline, its tab open).
  await context.addInitScript(() => {
    const real = Date.now.bind(Date);
    Date.now = () => real() + Number(localStorage.getItem('e2e-clock-ahead-ms') ?? 0);
  });
  const page = await open(context, board, 'push-ops', 'sse');
  await context.setOffline(true);
  await expect(root(page)).toHaveAttribute('data-connection', 'offline');
  await addTodo(page, 'still wanted');
  await addTodo(page, 'no longer wanted');
  await expect(root(page)).toHaveAttribute('data-pending-count', '2');
  await page.evaluate(() => localStorage.setItem('e2e-clock-ahead-ms', String(25 * 3_600_000)));

  // Back a day later: nothing goes by itself; the page lists both with what each would do.
  await context.setOffline(false);
  await expect(root(page)).toHaveAttribute('data-connection', 'live');
  const list = page.locator('[data-overdue]');
  await expect(list).toHaveAttribute('data-overdue', '2');
  await expect(list.locator('li').first()).toContainText('made 25 hours ago');
  await expect(list.locator('li').first()).toContainText('if sent now: added “still wanted”');
  await expect(root(page)).toHaveAttribute('data-pending-count', '2');
  expect((await state(request, board)).todos).toEqual([]);

  await list.locator('li').first().locator('[data-overdue-send]').click();
  await expect(list).toHaveAttribute('data-overdue', '1');
  await list.locator('li').first().locator('[data-overdue-discard]').click();
  await expect(page.locator('[data-overdue]')).toHaveCount(0);
  await expect(root(page)).toHaveAttribute('data-pending-count', '0');
  expect((await state(request, board)).todos.map((t) => t.title)).toEqual(['still wanted']);
  await expect.poll(() => storedCommands(page, board)).toBe(0);
  await expectConverged(request, board, [page]);
  await context.close();
});
