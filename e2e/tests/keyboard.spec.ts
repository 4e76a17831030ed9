// The board from the keyboard alone, in Chromium: a skip link first; every card and sprint
// action keeps focus on the control that acted, or the nearest thing to it when that
// control is gone (the card it moved with, the card that took a deleted one's place);
// rename takes focus and Escape gives it back; focus is always visible.
import { test, expect, Page } from '@playwright/test';
import { command, createBoard, expectConverged, open, state } from './helpers';

test.afterEach(async ({ browser }) => {
  await Promise.all(browser.contexts().map((context) => context.close().catch(() => {})));
});

/** Where focus is: "card/control/column" (card: the todo id, or "-"). */
async function focused(page: Page): Promise<string> {
  return page.evaluate(() => {
    const el = document.activeElement as HTMLElement | null;
    if (!el || el === document.body) return 'body';
    const card = el.closest('[data-todo-id]')?.getAttribute('data-todo-id') ?? '-';
    const control = el.getAttribute('data-focus') ?? el.tagName.toLowerCase();
    const column = el.closest('[data-column]')?.getAttribute('data-column') ?? '-';
    return `${card}/${control}/${column}`;
  });
}

async function titles(page: Page, column: string): Promise<string[]> {
  return page.locator(`[data-column="${column}"] .todo-title`).allTextContents();
}

test('every card and sprint action keeps keyboard focus, and the board works without a mouse', async ({ browser, request }) => {
  const board = await createBoard(request, 'Keyboard');
  for (const title of ['a', 'b', 'c']) await command(request, board, { type: 'add_todo', title });
  await command(request, board, { type: 'add_sprint', name: 'Sprint one' });
  // ids (one sequence for todos and sprints): todos a=1, b=2, c=3 in the backlog; sprint 4.
  const page = await open(await browser.newContext(), board, 'event-diff', 'ws');

  // The first Tab reaches the skip link, which leads past the top bar to the content.
  await page.locator('body').focus();
  await page.keyboard.press('Tab');
  await expect(page.locator('.skip-link')).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(page.locator('main#content')).toBeFocused();

  // Rename: Enter on the title opens the editor, which takes focus; Enter saves and focus
  // is on the title again; Escape closes without saving, also back on the title.
  await page.locator('[data-todo-id="2"] .todo-title').focus();
  await page.keyboard.press('Enter');
  await expect(page.locator('[data-todo-id="2"] input[name="rename"]')).toBeFocused();
  await page.keyboard.press('ControlOrMeta+a');
  await page.keyboard.type('b2');
  await page.keyboard.press('Enter');
  await expect(page.locator('[data-todo-id="2"] .todo-title')).toHaveText('b2');
  await expect.poll(() => focused(page)).toBe('2/title/backlog');
  await expect.poll(async () => (await state(request, board)).todos.find((t) => t.id === 2)?.title).toBe('b2');
  await page.keyboard.press('Enter');
  await expect(page.locator('[data-todo-id="2"] input[name="rename"]')).toBeFocused();
  await page.keyboard.press('Escape');
  await expect.poll(() => focused(page)).toBe('2/title/backlog');

  // Status, with the arrow keys on the select: the card changes under it, focus stays.
  await page.locator('[data-todo-id="2"] select[name="status"]').focus();
  await page.keyboard.press('ArrowDown');
  await expect(page.locator('[data-todo-id="2"]')).toHaveClass(/todo-doing/);
  await expect.poll(async () => (await state(request, board)).todos.find((t) => t.id === 2)?.status).toBe('doing');
  await expect.poll(() => focused(page)).toBe('2/status/backlog');

  // Up: the card moves and the button moves with it; at the top the button is disabled,
  // and focus is on the card's title.
  await page.locator('[data-todo-id="3"] [data-focus="up"]').focus();
  await page.keyboard.press('Enter');
  await expect.poll(() => titles(page, 'backlog')).toEqual(['a', 'c', 'b2']);
  await expect.poll(() => focused(page)).toBe('3/up/backlog');
  await page.keyboard.press('Enter');
  await expect.poll(() => titles(page, 'backlog')).toEqual(['c', 'a', 'b2']);
  await expect.poll(() => focused(page)).toBe('3/title/backlog');
  // Down, from the title: Tab to the controls is the person's; here, straight to the button.
  await page.locator('[data-todo-id="3"] [data-focus="down"]').focus();
  await page.keyboard.press('Enter');
  await expect.poll(() => titles(page, 'backlog')).toEqual(['a', 'c', 'b2']);
  await expect.poll(() => focused(page)).toBe('3/down/backlog');

  // Move to the sprint with the move select: the card is rendered anew in the sprint's
  // column, and focus goes with it.
  await page.locator('[data-todo-id="3"] select[name="move"]').focus();
  await page.keyboard.press('ArrowDown');
  await expect.poll(() => titles(page, 'sprint-4')).toEqual(['c']);
  await expect.poll(() => focused(page)).toBe('3/move/sprint-4');

  // Start the sprint, then complete it: the same button place, another label.
  const sprintButton = page.locator('[data-column="sprint-4"] [data-focus="sprint"]');
  await sprintButton.focus();
  await page.keyboard.press('Enter');
  await expect(sprintButton).toHaveText('Complete');
  await expect.poll(() => focused(page)).toBe('-/sprint/sprint-4');
  await page.keyboard.press('Enter');
  await expect(page.locator('[data-column="sprint-4"] .badge')).toHaveText('completed');
  // The completed sprint has no button left: focus stays in its column.
  await expect.poll(() => focused(page)).toMatch(/\/sprint-4$/);

  // Delete: the card is gone, and focus is on the card that took its place.
  await expect.poll(() => titles(page, 'backlog')).toEqual(['a', 'b2', 'c']);
  await page.locator('[data-todo-id="1"] [data-focus="delete"]').focus();
  await page.keyboard.press('Enter');
  await expect.poll(() => titles(page, 'backlog')).toEqual(['b2', 'c']);
  await expect.poll(() => focused(page)).toBe('2/title/backlog');

  // Add a todo: type and Enter in the column's field, which keeps focus for the next.
  await page.locator('[data-column="backlog"] [data-add-todo]').focus();
  await page.keyboard.type('d');
  await page.keyboard.press('Enter');
  await expect.poll(() => titles(page, 'backlog')).toEqual(['b2', 'c', 'd']);
  await expect(page.locator('[data-column="backlog"] [data-add-todo]')).toBeFocused();
  await expectConverged(request, board, [page]);
});

test('a remote change does not move focus, and a click elsewhere is never undone', async ({ browser, request }) => {
  const board = await createBoard(request, 'Focus and others');
  for (const title of ['a', 'b']) await command(request, board, { type: 'add_todo', title });
  const page = await open(await browser.newContext(), board, 'push-state', 'sse');
  await page.locator('[data-todo-id="2"] select[name="status"]').focus();
  // Someone else moves this very card to the top and renames the other.
  await command(request, board, { type: 'move_todo', id: 2, sprint_id: null, position: 0 });
  await command(request, board, { type: 'rename_todo', id: 1, title: 'a, renamed' });
  await expect.poll(() => titles(page, 'backlog')).toEqual(['b', 'a, renamed']);
  await expect.poll(() => focused(page)).toBe('2/status/backlog');

  // A click on the page's background: focus is the person's, not put back by the next change.
  await page.mouse.click(5, 300);
  await command(request, board, { type: 'rename_todo', id: 2, title: 'b, renamed' });
  await expect(page.locator('[data-todo-id="2"] .todo-title')).toHaveText('b, renamed');
  // (The click lands on the page's content: focus goes to it, or nowhere; not the card.)
  await page.waitForTimeout(300);
  expect(await focused(page)).toMatch(/^(body|-\/main\/-)$/);
});

test('focus is visible on every control, the card title included, and icon buttons are at least 24 px', async ({ browser, request }) => {
  const board = await createBoard(request, 'Visible focus');
  await command(request, board, { type: 'add_todo', title: 'a' });
  await command(request, board, { type: 'add_todo', title: 'b' });
  const page = await open(await browser.newContext(), board, 'event-diff', 'sse');
  // Reached by Tab (so :focus-visible applies), as a keyboard user would.
  await page.locator('[data-todo-id="1"] .todo-title').focus();
  await page.keyboard.press('Shift+Tab');
  await page.keyboard.press('Tab');
  await expect(page.locator('[data-todo-id="1"] .todo-title')).toBeFocused();
  const outline = await page.locator('[data-todo-id="1"] .todo-title').evaluate((el) => {
    const style = getComputedStyle(el);
    return { style: style.outlineStyle, width: parseFloat(style.outlineWidth) };
  });
  expect(outline.style).not.toBe('none');
  expect(outline.width).toBeGreaterThanOrEqual(2);
  for (const box of await page.locator('button.icon').evaluateAll((els) => els.map((e) => e.getBoundingClientRect()))) {
    expect(box.width).toBeGreaterThanOrEqual(24);
    expect(box.height).toBeGreaterThanOrEqual(24);
  }
});

test('a screen reader hears changes by others, together, and the connection when it changes', async ({ browser, request }) => {
  const board = await createBoard(request, 'Announcements');
  const page = await open(await browser.newContext(), board, 'push-events', 'ws');
  const region = page.locator('[data-announce]');
  await expect(region).toHaveAttribute('aria-live', 'polite');
  // Opening the page announces no changes (the board as it was is what the page shows).
  await expect(region).not.toContainText('by others');

  // Three changes by someone else, in a burst: one announcement for the three.
  for (const title of ['one', 'two', 'three']) await command(request, board, { type: 'add_todo', title });
  await expect(region).toHaveText('3 changes by others.');
  // This tab's own change is not announced as someone else's.
  await page.locator('[data-column="backlog"] [data-add-todo]').fill('mine');
  await page.locator('[data-column="backlog"] [data-add-todo]').press('Enter');
  await expect(page.locator('[data-todo-id]:not([data-pending])')).toHaveCount(4);
  await page.waitForTimeout(2_500);
  await expect(region).toHaveText('3 changes by others.');

  // A cut (the fault lab, this tab only): reconnecting, then live again.
  const lab = page.locator('details[data-lab]');
  await lab.locator('summary').first().click();
  await page.locator('[data-lab-input="cut"]').fill('2');
  await page.locator('[data-lab-action="cut"]').click();
  // A cut is not the browser going offline: the page says it is reconnecting.
  await expect(region).toContainText('reconnecting');
  await expect(region).toContainText('Connection live', { timeout: 30_000 });
});
