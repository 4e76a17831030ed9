// Optimistic updates in Chromium: a change shows at once, marked pending, and the mark
// clears when the server's frame is applied; turned off, it waits for the server; a rename
// the server refuses (409) goes back, and the card offers both values; commands made
// offline survive a reload and are applied exactly once, seen by a second browser too.
import { test, expect, Page, Route } from '@playwright/test';
import { addTodo, command, createBoard, expectConverged, open, state, HYDRATION_MS } from './helpers';

// Pages left open keep polling and streaming (every 250 ms on poll) and slow every later
// page's hydration on two cores: each test's browsers close when it ends.
test.afterEach(async ({ browser }) => {
  await Promise.all(browser.contexts().map((context) => context.close().catch(() => {})));
});

/** Holds this page's `POST /commands` until `release()` is called (the server's answer, and
 * with it the change itself, cannot come before). */
async function holdCommands(page: Page) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const held: Route[] = [];
  await page.route('**/api/boards/*/commands', async (route) => {
    held.push(route);
    await released;
    await route.continue();
  });
  return { release, held };
}

test('a new todo shows at once, marked pending, and the mark clears once applied', async ({ browser, request }) => {
  const board = await createBoard(request, 'Optimistic');
  const page = await open(await browser.newContext(), board, 'push-events', 'sse');
  const root = page.locator('[data-board-seq]');
  const { release, held } = await holdCommands(page);

  await addTodo(page, 'at once');
  const card = page.locator('[data-todo-id]', { hasText: 'at once' });
  // The server has not even received the command: the card is the page's own.
  await expect(card).toHaveAttribute('data-pending', 'true');
  await expect.poll(() => held.length).toBe(1);
  expect((await state(request, board)).todos).toHaveLength(0);
  await expect(root).toHaveAttribute('data-pending-count', '1');
  await expect(root).toHaveAttribute('data-board-seq', '0');

  release();
  await expect(card).not.toHaveAttribute('data-pending', 'true');
  await expect(root).toHaveAttribute('data-pending-count', '0');
  await expect(root).toHaveAttribute('data-board-seq', '1');
  await expect(page.locator('[data-todo-id]')).toHaveCount(1);
  await expectConverged(request, board, [page]);
});

test('with optimistic updates off, a change waits for the server', async ({ browser, request }) => {
  const board = await createBoard(request, 'Pessimistic');
  const page = await open(await browser.newContext(), board, 'event-diff', 'sse');
  await page.locator('input[name="optimistic"]').uncheck();
  const { release, held } = await holdCommands(page);

  await addTodo(page, 'later');
  await expect.poll(() => held.length).toBe(1);
  await expect(page.locator('[data-todo-id]')).toHaveCount(0);
  release();
  await expect(page.locator('[data-todo-id]', { hasText: 'later' })).toBeVisible();
  await expectConverged(request, board, [page]);
});

test('the time from a click to the card, optimistic and not, with 500 ms of latency', async ({ browser, request }) => {
  // Figures for docs/optimistic.md, printed: the assertions are only about order.
  const board = await createBoard(request, 'Latency');
  const page = await open(await browser.newContext(), board, 'push-ops', 'sse');
  // The fault lab's latency: every request and every frame of this tab waits 500 ms.
  await page.locator('details[data-lab] summary').first().click();
  await page.locator('[data-lab-input="latency"]').fill('500');
  await page.locator('[data-lab-input="jitter"]').fill('0');
  await page.locator('[data-lab-action="latency"]').click();
  await expect(page.locator('[data-lab-status]')).toContainText('latency 500 ms');
  const timeToCard = async (title: string) => {
    const started = Date.now();
    await addTodo(page, title);
    await page.locator('[data-todo-id]', { hasText: title }).waitFor();
    const shown = Date.now() - started;
    await expect(page.locator('[data-todo-id]', { hasText: title })).not.toHaveAttribute('data-pending', 'true');
    return shown;
  };
  const optimistic = await timeToCard('optimistic');
  await page.locator('input[name="optimistic"]').uncheck();
  const confirmed = await timeToCard('confirmed');
  console.log(`click to card with 500 ms latency: optimistic ${optimistic} ms, not ${confirmed} ms`);
  // The command waits 500 ms on its way up, its frame 500 ms on its way down.
  expect(confirmed).toBeGreaterThanOrEqual(1000);
  expect(optimistic).toBeLessThan(confirmed);
  await expectConverged(request, board, [page]);
});

test('a rename the server refuses (409) goes back, and the card offers both values', async ({ browser, request }) => {
  const board = await createBoard(request, 'Conflicts');
  await command(request, board, { type: 'add_todo', title: 'original' });
  const page = await open(await browser.newContext(), board, 'push-ops', 'sse');
  const card = page.locator('[data-todo-id="1"]');
  await expect(card.locator('.todo-title')).toHaveText('original');
  // Someone else renames the todo after this page sent its rename but before it arrives.
  await page.route('**/api/boards/*/commands', async (route) => {
    await command(request, board, { type: 'rename_todo', id: 1, title: 'theirs' });
    await route.continue();
  });

  await card.locator('.todo-title').click();
  await card.locator('input[name="rename"]').fill('mine');
  await card.locator('input[name="rename"]').press('Enter');
  // Not a bare message: the choice, in words, once (no banner, no second copy).
  const conflict = card.locator('[data-conflict]');
  await expect(conflict).toBeVisible();
  await expect(conflict).toContainText('theirs');
  await expect(conflict.locator('[data-mine]')).toHaveText('mine');
  await expect(page.locator('.notice')).toHaveCount(0);
  await expect(page.locator('[data-refusal]')).toHaveCount(0);
  await expect(card.locator('.todo-title')).toHaveText('theirs');
  await expect(card).not.toHaveAttribute('data-pending', 'true');
  const server = await state(request, board);
  expect(server.todos.map((t) => t.title)).toEqual(['theirs']);
  await expectConverged(request, board, [page]);

  // Keeping one's own renames on top of theirs; the choice goes away.
  await page.unroute('**/api/boards/*/commands');
  await conflict.getByRole('button', { name: 'Keep yours' }).click();
  await expect(card.locator('.todo-title')).toHaveText('mine');
  await expect(conflict).toHaveCount(0);
  await expect.poll(async () => (await state(request, board)).todos.map((t) => t.title)).toEqual(['mine']);
  await expectConverged(request, board, [page]);
});

test('three commands made offline survive a reload and apply once, here and elsewhere', async ({
  browser,
  request,
}) => {
  const board = await createBoard(request, 'Offline');
  const context = await browser.newContext();
  const page = await open(context, board, 'event-diff', 'sse');
  const other = await open(await browser.newContext(), board, 'push-ops', 'ws');
  const root = page.locator('[data-board-seq]');

  await context.setOffline(true);
  for (const title of ['one', 'two', 'three']) {
    await addTodo(page, title);
  }
  await expect(page.locator('[data-todo-id][data-pending="true"]')).toHaveCount(3);
  await expect(root).toHaveAttribute('data-pending-count', '3');
  expect((await state(request, board)).todos).toHaveLength(0);

  // Reloading offline fails (the browser shows its own error page); this tab's storage stays.
  await page.reload().catch(() => {});
  await context.setOffline(false);
  await page.reload();
  await expect(root).toHaveAttribute('data-hydrated', 'true', { timeout: HYDRATION_MS });
  await expect(root).toHaveAttribute('data-pending-count', '0');
  await expect(root).toHaveAttribute('data-board-seq', '3');

  const server = await state(request, board);
  expect(server.todos.map((t) => t.title)).toEqual(['one', 'two', 'three']);
  await expect(other.locator('.todo-title')).toHaveText(['one', 'two', 'three']);
  await expectConverged(request, board, [page, other]);
});

test('drag and drop moves a card within and between columns; a second browser sees it', async ({
  browser,
  request,
}) => {
  const board = await createBoard(request, 'Drag');
  await command(request, board, { type: 'add_sprint', name: 'Sprint' });
  for (const title of ['first', 'second', 'third']) {
    await command(request, board, { type: 'add_todo', title });
  }
  const page = await open(await browser.newContext(), board, 'push-events', 'ws');
  const other = await open(await browser.newContext(), board, 'event-diff', 'sse');
  const backlog = page.locator('[data-column="backlog"] ol.todos');
  const sprint = page.locator('[data-column="sprint-1"] ol.todos');

  // Within a column: "third" dropped at the top of the backlog.
  await page.locator('[data-todo-id]', { hasText: 'third' }).dragTo(backlog, { targetPosition: { x: 20, y: 2 } });
  await expect(other.locator('[data-column="backlog"] .todo-title')).toHaveText(['third', 'first', 'second']);

  // Between columns: "first" dropped on the (empty) sprint.
  await page.locator('[data-todo-id]', { hasText: 'first' }).dragTo(sprint);
  await expect(other.locator('[data-column="sprint-1"] .todo-title')).toHaveText(['first']);
  await expect(other.locator('[data-column="backlog"] .todo-title')).toHaveText(['third', 'second']);
  await expectConverged(request, board, [page, other]);
});
