// The page explains itself: a legend for the patterns and transports with the docs behind
// it, the tab named after the board, a private board's share panel that copies and
// rotates, words for what completing a sprint does, a wrong link that says why, and long
// titles refused with the limit counted as the server counts it.
import { test, expect, Page } from '@playwright/test';
import { createBoard, command, open, state, HYDRATION_MS } from './helpers';

async function hydrated(page: Page) {
  await expect(page.locator('[data-board-seq]')).toHaveAttribute('data-hydrated', 'true', { timeout: HYDRATION_MS });
  await expect(page.locator('[data-board-seq]')).toHaveAttribute('data-conn', 'live', { timeout: HYDRATION_MS });
}

test('the legend names every pattern and transport and its docs are there', async ({ browser, request }) => {
  const board = await createBoard(request, 'Legend board');
  const page = await open(await browser.newContext(), board);
  await expect(page).toHaveTitle('Legend board · Realtime board');
  const legend = page.locator('[data-legend]');
  await legend.locator('summary').click();
  for (const name of ['poke-pull', 'push-state', 'push-ops', 'push-events', 'event-diff', 'poll', 'long-poll', 'sse', 'ws']) {
    await expect(legend.locator('dt', { hasText: new RegExp(`^${name}$`) })).toHaveCount(1);
  }
  for (const doc of ['patterns.md', 'transports.md']) {
    await expect(legend.locator(`a[href="/docs/${doc}"]`).first()).toBeVisible();
    const res = await request.get(`/docs/${doc}`);
    expect(res.status()).toBe(200);
    expect(res.headers()['content-type']).toBe('text/plain; charset=utf-8');
    expect(await res.text()).toContain('poke-pull');
  }
  // Only the project's docs: no path reaches anything else.
  for (const path of ['/docs/nope.md', '/docs/..%2FCargo.toml', '/docs/performance%2Fstorm.json']) {
    expect((await request.get(path)).status(), path).toBe(404);
  }
  // The inspector explains its words in place.
  const inspector = page.locator('details.inspector');
  if ((await inspector.getAttribute('open')) === null) await inspector.locator('> summary').click();
  await page.locator('[data-wire-terms] > summary').click();
  await expect(page.locator('[data-wire-terms] dt', { hasText: 'ephemeral' })).toBeVisible();
});

test('home says what a private board is; a wrong link says it may have been withdrawn', async ({ page }) => {
  await page.goto('/');
  await expect(page.locator('[data-private-note]')).toContainText('private');
  const res = await page.goto('/boards/no-such-board');
  expect(res?.status()).toBe(404);
  await expect(page.locator('[data-not-found="board"]')).toContainText('withdrawn');
});

test('completing a sprint says where its unfinished cards go, before and after', async ({ browser, request }) => {
  const board = await createBoard(request, 'Sprint words');
  for (const title of ['a', 'b', 'c']) await command(request, board, { type: 'add_todo', title });
  await command(request, board, { type: 'add_sprint', name: 'S' });
  for (const id of [1, 2, 3]) await command(request, board, { type: 'move_todo', id, sprint_id: 4 });
  await command(request, board, { type: 'set_todo_status', id: 3, status: 'done' });
  await command(request, board, { type: 'start_sprint', id: 4 });
  const page = await open(await browser.newContext(), board);
  const column = page.locator('[data-column="sprint-4"]');
  await expect(column.locator('[data-sprint-note="active"]')).toHaveText(
    'Completing it moves its 2 unfinished cards to the end of the backlog.',
  );
  await column.locator('[data-focus="sprint"]').click();
  await expect(column.locator('[data-sprint-note="completed"]')).toContainText('went to the end of the backlog');
  await expect(page.locator('[data-column="backlog"] [data-todo-id]')).toHaveCount(2);
});

test('a title over the limit is refused with the limit shown, counted in characters as the server counts', async ({
  browser,
  request,
}) => {
  const board = await createBoard(request, 'Long titles');
  const page = await open(await browser.newContext(), board);
  const input = page.locator('[data-add-todo]').first();
  const form = page.locator('[data-column="backlog"] .add-todo');
  // Pasted whole: nothing is cut off.
  await input.fill('x'.repeat(501));
  await expect(input).toHaveValue('x'.repeat(501));
  await expect(form.locator('[data-too-long="true"]')).toContainText('501 characters: the limit is 500');
  await input.press('Enter');
  await page.waitForTimeout(300);
  await expect(page.locator('[data-todo-id]')).toHaveCount(0);
  expect((await state(request, board)).todos).toHaveLength(0);
  // 460 emoji are 920 UTF-16 units (a `maxlength` of 500 stopped at 250) and 460
  // characters: within the limit, and near it, so the count shows.
  const emoji = '\u{1F600}'.repeat(460);
  await input.fill(emoji);
  await expect(form.locator('[data-too-long="false"]')).toContainText('460 of 500 characters');
  await input.press('Enter');
  await expect.poll(async () => (await state(request, board)).todos.map((t) => t.title)).toEqual([emoji]);
});

test('the share panel copies each link and rotating shows new links that replace the old', async ({
  browser,
  request,
}) => {
  const created = await (await request.post('/api/boards', { data: { name: 'Shared' } })).json();
  const context = await browser.newContext({ permissions: ['clipboard-read', 'clipboard-write'] });
  const page = await context.newPage();
  await page.goto(`/boards/${created.id}?key=${created.keys.write}`);
  await hydrated(page);
  const panel = page.locator('[data-share-panel]');
  await panel.locator('summary').click();
  const oldRead = await panel.locator('[data-share="read"]').inputValue();
  await panel.locator('[data-copy="read"]').click();
  await expect(panel.locator('[data-copy="read"]')).toHaveText('Copied');
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(oldRead);

  page.once('dialog', (dialog) => {
    expect(dialog.message()).toContain('stop working');
    void dialog.accept();
  });
  await panel.locator('[data-rotate-keys]').click();
  await expect(page.locator('[data-rotated]')).toBeVisible({ timeout: HYDRATION_MS });
  await hydrated(page);
  const newRead = await page.locator('[data-share="read"]').inputValue();
  expect(newRead).not.toBe(oldRead);
  // The old link opens nothing; the new one opens the board.
  const stranger = await browser.newContext();
  const visit = await stranger.newPage();
  await visit.goto(oldRead);
  await expect(visit.locator('[data-not-found="board"]')).toBeVisible();
  await visit.goto(newRead);
  await expect(visit.locator('[data-board-seq]')).toBeVisible();
});

test('a delete can be undone for a few seconds; undone, nobody ever saw it go', async ({ browser, request }) => {
  const board = await createBoard(request, 'Undo');
  await command(request, board, { type: 'add_todo', title: 'precious' });
  const page = await open(await browser.newContext(), board);
  const other = await open(await browser.newContext(), board);
  await page.locator('[data-todo-id="1"] [data-focus="delete"]').click();
  await expect(page.locator('[data-todo-id="1"]')).toHaveCount(0);
  await expect(page.locator('[data-undo="1"]')).toContainText('Deleted \u201cprecious\u201d');
  await page.locator('[data-undo="1"] button').click();
  await expect(page.locator('[data-todo-id="1"]')).toHaveCount(1);
  await expect(page.locator('[data-undo]')).toHaveCount(0);
  // Past the undo window: still there, for everyone.
  await page.waitForTimeout(6_000);
  expect((await state(request, board)).todos.map((t) => t.title)).toEqual(['precious']);
  await expect(other.locator('[data-todo-id="1"]')).toHaveCount(1);

  // Not undone: it goes when the time is up.
  await page.locator('[data-todo-id="1"] [data-focus="delete"]').click();
  await expect.poll(async () => (await state(request, board)).todos.length, { timeout: 10_000 }).toBe(0);
  await expect(other.locator('[data-todo-id="1"]')).toHaveCount(0);
  await expect(page.locator('[data-undo]')).toHaveCount(0);
});
