// Local-first: a browser's tabs of one board share one outbox. Commands made in any tab
// are pending in every tab; exactly one tab (the holder of a Web Lock) sends them, in the
// order they were made, with their keys; when it closes, another tab takes over.
import { test, expect, Page } from '@playwright/test';
import { addTodo, createBoard, open, expectConverged, state } from './helpers';

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
