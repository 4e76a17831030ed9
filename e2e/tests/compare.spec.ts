// The compare page: one board in five panes (one per pattern, mixed transports), each
// showing its seq and whether it agrees with the others.
import { test, expect } from '@playwright/test';
import { command, createBoard, state, HYDRATION_MS } from './helpers';

// Pages left open keep polling and streaming (every 250 ms on poll) and slow every later
// page's hydration on two cores: each test's browsers close when it ends.
test.afterEach(async ({ browser }) => {
  await Promise.all(browser.contexts().map((context) => context.close().catch(() => {})));
});

test('every pane of the compare page converges and says so', async ({ page, request }) => {
  const board = await createBoard(request, 'Compared');
  await page.goto(`/boards/${board}/compare`);
  await expect(page.locator('section.compare')).toHaveAttribute('data-hydrated', 'true', { timeout: HYDRATION_MS });
  const panes = page.locator('.pane-wrap [data-board-seq]');
  await expect(panes).toHaveCount(5);
  for (let i = 0; i < 5; i++) {
    await expect(panes.nth(i)).toHaveAttribute('data-conn', 'live');
  }
  // A change made in one pane reaches every pane.
  await command(request, board, { type: 'add_sprint', name: 'S' });
  await command(request, board, { type: 'add_todo', title: 'shared', sprint_id: 1 });
  await command(request, board, { type: 'start_sprint', id: 1 });
  await command(request, board, { type: 'complete_sprint', id: 1 });
  const truth = await state(request, board);
  for (let i = 0; i < 5; i++) {
    await expect(panes.nth(i)).toHaveAttribute('data-board-seq', String(truth.seq));
  }
  await expect(page.locator('[data-agreement]')).toHaveText(Array(5).fill('converged'));
  const prints = await panes.evaluateAll((els) => els.map((e) => e.getAttribute('data-fingerprint')));
  expect(new Set(prints).size).toBe(1);
});

test('a pane list in the URL picks the panes; a bad one is a 400', async ({ page, request }) => {
  await page.goto('/boards/demo/compare?panes=push-ops:ws,poke-pull:long-poll');
  await expect(page.locator('.pane-wrap [data-board-seq]')).toHaveCount(2);
  await expect(page.locator('.pane-wrap select[name="pattern"]').nth(0)).toHaveValue('push-ops');
  await expect(page.locator('.pane-wrap select[name="transport"]').nth(1)).toHaveValue('long-poll');
  const res = await request.get('/boards/demo/compare?panes=push-ops:pigeon');
  expect(res.status()).toBe(400);
  expect(await res.text()).toContain('long-poll');
});
