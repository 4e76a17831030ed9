// The board end to end, in Debian's Chromium: two browser contexts (two users) on one
// board converge through the UI, a reload loses nothing, and user text is never HTML.
import { test, expect } from '@playwright/test';
import { command, createBoard, expectConverged, open, seqOf, state, HYDRATION_MS } from './helpers';

// Pages left open keep polling and streaming (every 250 ms on poll) and slow every later
// page's hydration on two cores: each test's browsers close when it ends.
test.afterEach(async ({ browser }) => {
  await Promise.all(browser.contexts().map((context) => context.close().catch(() => {})));
});

test('edits made in one browser appear in the other', async ({ browser, request }) => {
  const board = await createBoard(request, 'Two users');
  const alice = await open(await browser.newContext(), board);
  const bob = await open(await browser.newContext(), board);

  // Alice plans a sprint through the UI.
  await alice.fill('input[name="sprint"]', 'Sprint A');
  await alice.click('.add-sprint button');
  await expect(bob.locator('[data-column="sprint-1"] h2')).toHaveText('Sprint A');

  await alice.fill('[data-column="backlog"] input[name="title"]', 'alpha');
  await alice.click('[data-column="backlog"] .add-todo button');
  await alice.fill('[data-column="sprint-1"] input[name="title"]', 'beta');
  await alice.click('[data-column="sprint-1"] .add-todo button');
  await expect(bob.locator('[data-column="backlog"] .todo-title')).toHaveText(['alpha']);
  await expect(bob.locator('[data-column="sprint-1"] .todo-title')).toHaveText(['beta']);

  // Move alpha into the sprint, start it, finish beta, complete the sprint.
  await alice.locator('[data-column="backlog"] [data-todo-id] select[name="move"]').selectOption('1');
  await expect(bob.locator('[data-column="sprint-1"] .todo-title')).toHaveText(['beta', 'alpha']);
  await alice.click('[data-column="sprint-1"] .column-head button:has-text("Start")');
  await expect(bob.locator('[data-column="sprint-1"] .badge')).toHaveText('active');
  await alice
    .locator('[data-column="sprint-1"] [data-todo-id]', { hasText: 'beta' })
    .locator('select[name="status"]')
    .selectOption('done');
  await expect(bob.locator('[data-column="sprint-1"] .todo-done .todo-title')).toHaveText(['beta']);
  await alice.click('[data-column="sprint-1"] .column-head button:has-text("Complete")');

  // Bob sees the sprint completed and the unfinished todo back in the backlog.
  await expect(bob.locator('[data-column="sprint-1"] .badge')).toHaveText('completed');
  await expect(bob.locator('[data-column="backlog"] .todo-title')).toHaveText(['alpha']);
  await expectConverged(request, board, [alice, bob]);

  // And Bob's edits reach Alice: rename and delete.
  await bob.locator('[data-column="backlog"] .todo-title', { hasText: 'alpha' }).click();
  await bob.fill('[data-column="backlog"] input[name="rename"]', 'alpha, renamed');
  await bob.press('[data-column="backlog"] input[name="rename"]', 'Enter');
  await expect(alice.locator('[data-column="backlog"] .todo-title')).toHaveText(['alpha, renamed']);
  await bob.locator('[data-column="sprint-1"] [data-todo-id]', { hasText: 'beta' }).locator('button[aria-label="Delete"]').click();
  await expect(alice.locator('[data-column="sprint-1"] [data-todo-id]')).toHaveCount(0);
  await expectConverged(request, board, [alice, bob]);
});

test('a reload in the middle of a stream of changes loses nothing', async ({ browser, request }) => {
  const board = await createBoard(request, 'Reload');
  const watcher = await open(await browser.newContext(), board);
  const reloader = await open(await browser.newContext(), board);
  await command(request, board, { type: 'add_sprint', name: 'S' });
  for (let i = 0; i < 10; i++) {
    await command(request, board, { type: 'add_todo', title: `before ${i}`, sprint_id: i % 2 ? 1 : null });
  }
  // Changes keep landing while the page reloads.
  const writes = (async () => {
    for (let i = 0; i < 15; i++) {
      await command(request, board, { type: 'add_todo', title: `during ${i}` });
      await new Promise((r) => setTimeout(r, 40));
    }
    await command(request, board, { type: 'start_sprint', id: 1 });
    await command(request, board, { type: 'complete_sprint', id: 1 });
  })();
  await reloader.waitForTimeout(150);
  await reloader.reload();
  await expect(reloader.locator('[data-board-seq]')).toHaveAttribute('data-hydrated', 'true', { timeout: HYDRATION_MS });
  await writes;
  await expectConverged(request, board, [watcher, reloader]);
  expect(await seqOf(reloader)).toBe(28);
});

test('todo text is shown as text, never as HTML', async ({ browser, request }) => {
  const board = await createBoard(request, 'XSS');
  const page = await open(await browser.newContext(), board);
  const other = await open(await browser.newContext(), board);
  const evil = '<img src=x onerror=alert(1)>';
  await page.fill('[data-column="backlog"] input[name="title"]', evil);
  await page.click('[data-column="backlog"] .add-todo button');
  for (const p of [page, other]) {
    await expect(p.locator('.todo-title')).toHaveText([evil]);
    await expect(p.locator('.todos img')).toHaveCount(0);
  }
  // And in the server-rendered HTML of a fresh load.
  const fresh = await open(await browser.newContext(), board);
  await expect(fresh.locator('.todo-title')).toHaveText([evil]);
  await expect(fresh.locator('.todos img')).toHaveCount(0);
});

test('the home page lists boards and creates a private one that only this browser sees', async ({ page, browser, request }) => {
  await page.goto('/');
  await expect(page.locator('[data-board-id="demo"] a')).toHaveText('Demo board');
  await expect(page.locator('section.home')).toHaveAttribute('data-hydrated', 'true', { timeout: HYDRATION_MS });
  await page.fill('input[name="name"]', 'Made from the home page');
  await page.click('.create-board button');
  // The creator lands on the board with its write key in a cookie, not in the URL.
  await expect(page).toHaveURL(/\/boards\/made-from-the-home-page-[A-Za-z0-9_-]{22}$/);
  await expect(page.locator('[data-board-seq]')).toHaveAttribute('data-hydrated', 'true', { timeout: HYDRATION_MS });
  await expect(page.locator('h1')).toHaveText('Made from the home page');
  await expect(page.locator('[data-share="write"]')).toHaveValue(/\?key=w_/);
  const id = page.url().split('/').pop()!;
  await page.goto('/');
  await expect(page.locator(`[data-board-id="${id}"]`)).toHaveCount(1);
  // Another browser (and a tool without the key) sees neither the board nor its name.
  const stranger = await (await browser.newContext()).newPage();
  await stranger.goto('/');
  await expect(stranger.locator('[data-board-id="demo"]')).toHaveCount(1);
  await expect(stranger.locator(`[data-board-id="${id}"]`)).toHaveCount(0);
  expect((await request.get(`/api/boards/${id}`)).status()).toBe(404);
});

test('creating a board works before the script loads, as a plain form', async ({ request }) => {
  const res = await request.post('/boards', { form: { name: 'No script' }, maxRedirects: 0 });
  expect(res.status()).toBe(303);
  const location = res.headers()['location'];
  // The write link: following it stores the key and drops it from the URL.
  expect(location).toMatch(/^\/boards\/no-script-[A-Za-z0-9_-]{22}\?key=w_[A-Za-z0-9_-]+$/);
  const link = await request.get(location, { maxRedirects: 0 });
  expect(link.status()).toBe(303);
  expect(link.headers()['location']).toMatch(/^\/boards\/no-script-[A-Za-z0-9_-]{22}$/);
  expect(link.headers()['set-cookie']).toMatch(/HttpOnly/i);
  expect(link.headers()['set-cookie']).toMatch(/SameSite=Lax/i);
  const id = location.split('?')[0].split('/').pop()!;
  // The request context keeps the cookie, as a browser would.
  expect((await state(request, id)).seq).toBe(0);
});

test('with JavaScript disabled, the home page form creates a board and opens it', async ({ browser, baseURL }) => {
  const context = await browser.newContext({ baseURL, javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto('/');
  await page.locator('.create-board input[name="name"]').fill('Made without a script');
  await page.locator('.create-board button').click();
  // The write link stored its key in a cookie and was dropped from the URL.
  await expect(page).toHaveURL(/\/boards\/made-without-a-script-[A-Za-z0-9_-]{22}$/);
  await expect(page.locator('h1')).toHaveText('Made without a script');
  await expect(page.locator('[data-add-todo]').first()).toBeVisible();
  await context.close();
});

test('bad pattern or transport on the page answers 400 naming the valid ones', async ({ request }) => {
  const res = await request.get('/boards/demo?pattern=carrier-pigeon');
  expect(res.status()).toBe(400);
  expect(await res.text()).toContain('push-events');
  const missing = await request.get('/boards/no-such-board');
  expect(missing.status()).toBe(404);
});

test('a big column shows its first cards and the rest on demand, and keeps up with changes', async ({ browser, request }) => {
  const board = await createBoard(request, 'Big column');
  for (let i = 0; i < 320; i++) {
    await command(request, board, { type: 'add_todo', title: `todo ${i}` });
  }
  const page = await open(await browser.newContext(), board);
  const cards = page.locator('[data-column="backlog"] [data-todo-id]');
  // The page renders a bounded part of a big board: 300 cards, then a button for the rest.
  await expect(cards).toHaveCount(300);
  const more = page.locator('[data-column="backlog"] [data-more-cards]');
  await expect(more).toHaveAttribute('data-more-cards', '20');
  await expect(more).toHaveText('Show 20 more');
  await more.click();
  await expect(cards).toHaveCount(320);
  await expect(more).toHaveCount(0);
  // What comes later shows too, at the end of the column.
  await command(request, board, { type: 'add_todo', title: 'the newest' });
  await expect(cards).toHaveCount(321);
  await expect(cards.last()).toContainText('the newest');
});
