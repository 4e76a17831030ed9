// History in Chromium: the slider shows the board as it was at an earlier seq (read-only)
// while the live board keeps following; undo and redo are new commands; an undo over
// someone else's change is refused and says who; a page that was offline says how many
// changes it missed and lets the person step through them.
import { test, expect, Page, BrowserContext } from '@playwright/test';
import { command, createBoard, expectConverged, open, state } from './helpers';

test.afterEach(async ({ browser }) => {
  await Promise.all(browser.contexts().map((context) => context.close().catch(() => {})));
});

/** A browser whose tabs are called `name` on the presence list (and so in history). */
async function named(browser: import('@playwright/test').Browser, name: string): Promise<BrowserContext> {
  const context = await browser.newContext();
  await context.addInitScript((name) => window.localStorage.setItem('board.name', name), name);
  return context;
}

const titles = (page: Page) => page.locator('[data-column] [data-todo-id] .todo-title').allTextContents();

test('the slider shows earlier titles, and back to now shows what another browser added meanwhile', async ({
  browser,
  request,
}) => {
  const board = await createBoard(request, 'Time travel');
  const { id } = await command(request, board, { type: 'add_todo', title: 'first' });
  await command(request, board, { type: 'rename_todo', id, title: 'second' });
  await command(request, board, { type: 'rename_todo', id, title: 'third' });
  const page = await open(await named(browser, 'Ada'), board, 'push-events', 'sse');
  const slider = page.locator('[data-history-seq]');
  await expect(slider).toHaveAttribute('data-history-seq', '3');

  // Dragged all the way left: seq 0, the empty board.
  await slider.scrollIntoViewIfNeeded();
  const box = (await slider.boundingBox())!;
  await page.mouse.move(box.x + box.width - 2, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x - 20, box.y + box.height / 2, { steps: 8 });
  await page.mouse.up();
  await expect(slider).toHaveAttribute('data-history-seq', '0');
  await expect(page.locator('[data-column] [data-todo-id]')).toHaveCount(0);
  // One step at a time with the keyboard: seq 1, as it was, its change described and marked.
  await slider.focus();
  await slider.press('ArrowRight');
  await expect(slider).toHaveAttribute('data-history-seq', '1');
  expect(await titles(page)).toEqual(['first']);
  await expect(page.locator('[data-history-caption]')).toContainText('added “first”');
  await expect(page.locator(`[data-todo-id="${id}"]`)).toHaveAttribute('data-history-changed', 'true');
  await slider.press('ArrowRight');
  await expect(slider).toHaveAttribute('data-history-seq', '2');
  expect(await titles(page)).toEqual(['second']);
  // Read-only while in the past: the board's controls are out of reach.
  await expect(page.locator('.columns')).toHaveAttribute('inert', '');

  // Someone else adds a todo meanwhile: the page follows the live board (its seq moves)
  // but keeps showing the past until asked.
  const other = await open(await browser.newContext(), board, 'push-ops', 'ws');
  await other.locator('[data-column="backlog"] [data-add-todo]').fill('meanwhile');
  await other.locator('[data-column="backlog"] [data-add-todo]').press('Enter');
  await expect(page.locator('[data-board-seq]')).toHaveAttribute('data-board-seq', '4');
  expect(await titles(page)).toEqual(['second']);
  await expect(slider).toHaveAttribute('data-history-seq', '2');

  await page.locator('[data-history-now]').click();
  await expect(slider).toHaveAttribute('data-history-seq', '4');
  expect((await titles(page)).sort()).toEqual(['meanwhile', 'third']);
  await expectConverged(request, board, [page, other]);
});

test('undo and redo a move, seen by another browser', async ({ browser, request }) => {
  const board = await createBoard(request, 'Undo a move');
  const { id: sprint } = await command(request, board, { type: 'add_sprint', name: 'Sprint' });
  const { id } = await command(request, board, { type: 'add_todo', title: 'movable' });
  const page = await open(await named(browser, 'Ada'), board, 'event-diff', 'sse');
  const other = await open(await browser.newContext(), board, 'push-state', 'long-poll');
  const inSprint = (p: Page) => p.locator(`[data-column="sprint-${sprint}"] [data-todo-id="${id}"]`);
  const inBacklog = (p: Page) => p.locator(`[data-column="backlog"] [data-todo-id="${id}"]`);

  await page.locator(`[data-todo-id="${id}"] select[name="move"]`).selectOption(String(sprint));
  await expect(inSprint(other)).toBeVisible();
  await expect(page.locator('[data-undo-last]')).toHaveAttribute('data-undo-last', 'moving “movable”');

  await page.locator('[data-undo-last]').click();
  await expect(inBacklog(page)).toBeVisible();
  await expect(inBacklog(other)).toBeVisible();
  await expect(page.locator('[data-redo-last]')).toHaveAttribute('data-redo-last', 'moving “movable”');

  // Redo from the keyboard, focus on the page rather than in a text field.
  await page.locator('h1').click();
  await page.keyboard.press('Control+Shift+Z');
  await expect(inSprint(page)).toBeVisible();
  await expect(inSprint(other)).toBeVisible();
  // Each was a change of its own: the move, its undo, its redo.
  expect((await state(request, board)).seq).toBe(5);
  await expectConverged(request, board, [page, other]);
});

test('an undo is refused after another browser renamed the same card, and says who', async ({ browser, request }) => {
  const board = await createBoard(request, 'Undo refused');
  const { id } = await command(request, board, { type: 'add_todo', title: 'original' });
  const page = await open(await named(browser, 'Ada'), board, 'push-ops', 'ws');
  const other = await open(await named(browser, 'Bjorn'), board, 'event-diff', 'sse');

  await page.locator(`[data-todo-id="${id}"] .todo-title`).click();
  await page.locator(`[data-todo-id="${id}"] input[name="rename"]`).fill('mine');
  await page.locator(`[data-todo-id="${id}"] input[name="rename"]`).press('Enter');
  await expect(other.locator(`[data-todo-id="${id}"] .todo-title`)).toHaveText('mine');

  await other.locator(`[data-todo-id="${id}"] .todo-title`).click();
  await other.locator(`[data-todo-id="${id}"] input[name="rename"]`).fill('theirs');
  await other.locator(`[data-todo-id="${id}"] input[name="rename"]`).press('Enter');
  await expect(page.locator(`[data-todo-id="${id}"] .todo-title`)).toHaveText('theirs');

  await page.locator('[data-undo-last]').click();
  const refused = page.locator(`[data-undo-blocked="${id}"]`);
  await expect(refused).toContainText('Bjorn renamed it to “theirs”');
  await expect(refused).toContainText('nothing was sent');
  // Nothing overwrote theirs.
  await expect(page.locator(`[data-todo-id="${id}"] .todo-title`)).toHaveText('theirs');
  expect((await state(request, board)).seq).toBe(3);
  // The card's history lists both renames, and who made each.
  await page.locator(`[data-todo-id="${id}"] button[aria-label="History"]`).click();
  const history = page.locator(`[data-card-history="${id}"] li`);
  await expect(history).toHaveCount(3);
  await expect(history.nth(1)).toContainText('Ada renamed a todo to “mine”');
  await expect(history.nth(2)).toContainText('Bjorn renamed a todo to “theirs”');
});

test('back online after three changes made elsewhere, the page says it missed three and steps through them', async ({
  browser,
  request,
}) => {
  const board = await createBoard(request, 'Missed');
  await command(request, board, { type: 'add_todo', title: 'seen' });
  const context = await browser.newContext();
  const page = await open(context, board, 'push-ops', 'sse');
  const root = page.locator('[data-board-seq]');
  await expect(root).toHaveAttribute('data-board-seq', '1');

  await context.setOffline(true);
  await expect(root).toHaveAttribute('data-connection', 'offline');
  for (const title of ['one', 'two', 'three']) await command(request, board, { type: 'add_todo', title });
  await context.setOffline(false);
  await expect(root).toHaveAttribute('data-board-seq', '4');
  const banner = page.locator('[data-missed]');
  await expect(banner).toHaveAttribute('data-missed', '3');
  await expect(banner).toContainText('You missed 3 changes');

  // The first change it missed, in the history view; the arrow steps to the next.
  await page.locator('[data-missed-show]').click();
  const slider = page.locator('[data-history-seq]');
  await expect(slider).toHaveAttribute('data-history-seq', '2');
  expect(await titles(page)).toEqual(['seen', 'one']);
  await page.locator('[data-history-step="forward"]').click();
  await expect(slider).toHaveAttribute('data-history-seq', '3');
  expect(await titles(page)).toEqual(['seen', 'one', 'two']);
  await page.locator('[data-history-now]').click();
  expect(await titles(page)).toEqual(['seen', 'one', 'two', 'three']);
});
