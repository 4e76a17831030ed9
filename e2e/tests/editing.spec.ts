// Editing while others edit, in Chromium: an open editor keeps what was typed through
// remote changes; a rename that lost a race offers both values, in words, once; a refusal
// shows once, where the action was, and clears when the person acts on that todo again.
import { test, expect } from '@playwright/test';
import { command, createBoard, expectConverged, open, state } from './helpers';

test.afterEach(async ({ browser }) => {
  await Promise.all(browser.contexts().map((context) => context.close().catch(() => {})));
});

test('a draft survives a remote status change and saves on top of it', async ({ browser, request }) => {
  const board = await createBoard(request, 'Drafts');
  await command(request, board, { type: 'add_todo', title: 'original' });
  const page = await open(await browser.newContext(), board, 'event-diff', 'sse');
  const card = page.locator('[data-todo-id="1"]');
  await card.locator('.todo-title').click();
  const input = card.locator('input[name="rename"]');
  await expect(input).toBeFocused();
  await input.fill('typed while someone else works');

  // Someone else changes the card's status, then (another field) moves nothing: the
  // editor stays open, with the draft and the focus.
  await command(request, board, { type: 'set_todo_status', id: 1, status: 'done' });
  await expect(card).toHaveClass(/todo-done/);
  await expect(input).toHaveValue('typed while someone else works');
  await expect(input).toBeFocused();
  await expect(card.locator('[data-underneath]')).toHaveCount(0);

  await input.press('Enter');
  await expect(card.locator('.todo-title')).toHaveText('typed while someone else works');
  await expect.poll(async () => (await state(request, board)).todos[0]).toMatchObject({
    title: 'typed while someone else works',
    status: 'done',
  });
  await expect(page.locator('[data-refusal], .notice, [data-conflict]')).toHaveCount(0);
  await expectConverged(request, board, [page]);
});

test('a rename that conflicts offers theirs and yours, and nothing typed is lost', async ({ browser, request }) => {
  const board = await createBoard(request, 'Conflicting renames');
  await command(request, board, { type: 'add_todo', title: 'original' });
  await command(request, board, { type: 'add_todo', title: 'second' });
  const page = await open(await browser.newContext(), board, 'push-ops', 'ws');
  const card = page.locator('[data-todo-id="1"]');
  await card.locator('.todo-title').click();
  const input = card.locator('input[name="rename"]');
  await input.fill('mine');

  await command(request, board, { type: 'rename_todo', id: 1, title: 'theirs' });
  // The card says what changed underneath; the draft is untouched.
  await expect(card.locator('[data-underneath]')).toContainText('theirs');
  await expect(input).toHaveValue('mine');

  // Saving sends nothing yet: the choice is the person's.
  await input.press('Enter');
  const conflict = card.locator('[data-conflict]');
  await expect(conflict).toContainText('theirs');
  await expect(conflict.locator('[data-mine]')).toHaveText('mine');
  expect((await state(request, board)).todos[0].title).toBe('theirs');

  // "Edit yours" reopens the editor with what was typed.
  await conflict.getByRole('button', { name: 'Edit yours' }).click();
  await expect(input).toHaveValue('mine');
  await expect(input).toBeFocused();
  await input.fill('mine, edited');
  await input.press('Enter');
  await expect(card.locator('.todo-title')).toHaveText('mine, edited');
  await expect.poll(async () => (await state(request, board)).todos[0].title).toBe('mine, edited');

  // The other way round: take theirs, and nothing is sent.
  const second = page.locator('[data-todo-id="2"]');
  await second.locator('.todo-title').click();
  await second.locator('input[name="rename"]').fill('my second');
  await command(request, board, { type: 'rename_todo', id: 2, title: 'their second' });
  await expect(second.locator('[data-underneath]')).toContainText('their second');
  await second.locator('input[name="rename"]').press('Enter');
  await second.locator('[data-conflict]').getByRole('button', { name: 'Take theirs' }).click();
  await expect(second.locator('[data-conflict]')).toHaveCount(0);
  await expect(second.locator('.todo-title')).toHaveText('their second');
  const seq = (await state(request, board)).seq;
  await expectConverged(request, board, [page]);
  expect((await state(request, board)).seq).toBe(seq);
});

test('a refusal shows once, on its card, and clears when the person acts on the card again', async ({ browser, request }) => {
  const board = await createBoard(request, 'Refusals');
  await command(request, board, { type: 'add_todo', title: 'only' });
  const page = await open(await browser.newContext(), board, 'push-state', 'long-poll');
  const card = page.locator('[data-todo-id="1"]');
  // The server refuses the next command (as it would a rule the page cannot know).
  let refuse = true;
  await page.route('**/api/boards/*/commands', async (route) => {
    if (!refuse) return route.continue();
    refuse = false;
    await route.fulfill({ status: 422, contentType: 'application/json', body: JSON.stringify({ error: 'not now, says the server' }) });
  });
  await card.locator('select[name="status"]').selectOption('doing');
  await expect(card.locator('[data-refusal]')).toHaveText(/not now, says the server/);
  await expect(page.locator('[data-refusal]')).toHaveCount(1);
  await expect(page.locator('.notice')).toHaveCount(0);
  await expect(card).toHaveClass(/todo-todo/);

  await card.locator('select[name="status"]').selectOption('done');
  await expect(card).toHaveClass(/todo-done/);
  await expect(page.locator('[data-refusal]')).toHaveCount(0);
  await expectConverged(request, board, [page]);
});
