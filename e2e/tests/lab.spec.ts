// The fault lab in Chromium: each fault a learner can inject into one tab (lost frames, a
// cut, latency, a pause, and the compare page's presets) ends with the tab converged on the
// server's board, and the inspector's timeline lists the fault and the steps that recovered
// from it.
import { test, expect, Page } from '@playwright/test';
import { addTodo, command, createBoard, expectConverged, open, state, HYDRATION_MS } from './helpers';

// Pages left open keep polling and streaming and slow every later page's hydration on two
// cores: each test's browsers close when it ends.
test.afterEach(async ({ browser }) => {
  await Promise.all(browser.contexts().map((context) => context.close().catch(() => {})));
});

/** Opens the lab panel and sets one of its number inputs. */
async function setLab(page: Page, input: string, value: number) {
  const lab = page.locator('details[data-lab]');
  if ((await lab.getAttribute('open')) === null) {
    await lab.locator('summary').first().click();
  }
  await page.locator(`[data-lab-input="${input}"]`).fill(String(value));
}

/** The timeline's rows of one step (`data-step`). */
function steps(page: Page, step: string) {
  return page.locator(`[data-wire="timeline"] tr[data-step="${step}"]`);
}

for (const [pattern, transport] of [
  ['push-ops', 'sse'],
  ['push-events', 'ws'],
]) {
  test(`lost frames on ${pattern} over ${transport} are found and backfilled`, async ({ browser, request }) => {
    const board = await createBoard(request, `Drop ${pattern}`);
    const page = await open(await browser.newContext(), board, pattern, transport);
    await setLab(page, 'drop', 3);
    await page.locator('[data-lab-action="drop"]').click();
    await expect(page.locator('[data-lab-status]')).toContainText('losing the next 3');

    for (const title of ['one', 'two', 'three', 'four']) {
      await command(request, board, { type: 'add_todo', title });
    }
    await expectConverged(request, board, [page]);
    // The order of the story: three frames lost, the gap seen at the fourth, the backfill.
    await expect(steps(page, 'drop')).toHaveCount(4);
    await expect(steps(page, 'gap')).toHaveCount(1);
    await expect(steps(page, 'backfill')).toHaveCount(1);
    await expect(steps(page, 'backfill')).toContainText('read seq 1..=');
    await expect(page.locator('[data-lab-status]')).toContainText('no faults');
  });
}

test('a cut: offline for its seconds, then a reconnect and a resend, each applied once', async ({
  browser,
  request,
}) => {
  const board = await createBoard(request, 'Cut');
  const page = await open(await browser.newContext(), board, 'event-diff', 'ws');
  const other = await open(await browser.newContext(), board, 'push-ops', 'sse');
  const root = page.locator('[data-board-seq]');
  await setLab(page, 'cut', 4);
  await page.locator('[data-lab-action="cut"]').click();
  await expect(root).toHaveAttribute('data-conn', 'offline');

  // During the cut: this tab's change waits, pending; another client's change cannot reach it.
  await addTodo(page, 'mine');
  await command(request, board, { type: 'add_todo', title: 'theirs' });
  await expect(page.locator('[data-todo-id][data-pending="true"]')).toHaveCount(1);
  await expect(root).toHaveAttribute('data-board-seq', '0');

  await expect(root).toHaveAttribute('data-conn', 'live', { timeout: 30_000 });
  await expect(root).toHaveAttribute('data-pending-count', '0', { timeout: 30_000 });
  await expectConverged(request, board, [page, other]);
  const titles = (await state(request, board)).todos.map((t) => t.title).sort();
  expect(titles).toEqual(['mine', 'theirs']);
  for (const step of ['cut', 'restored', 'reconnect', 'resend']) {
    await expect(steps(page, step).first()).toBeAttached();
  }
});

test('latency: frames reach the engine no sooner than the latency set, in order', async ({ browser, request }) => {
  const board = await createBoard(request, 'Latency lab');
  const page = await open(await browser.newContext(), board, 'event-diff', 'sse');
  await setLab(page, 'latency', 600);
  await setLab(page, 'jitter', 200);
  await page.locator('[data-lab-action="latency"]').click();
  await expect(steps(page, 'latency')).toHaveCount(1);

  const started = Date.now();
  await command(request, board, { type: 'add_todo', title: 'slow' });
  await command(request, board, { type: 'add_todo', title: 'slower' });
  await expect(page.locator('[data-board-seq]')).toHaveAttribute('data-board-seq', '2');
  expect(Date.now() - started).toBeGreaterThanOrEqual(600);
  // The inspector's latency (its fifth column) is commit to the engine: the lab's share is in it.
  const latencies = await page
    .locator('[data-wire="log"] tr.frame-event-diff td:nth-child(5)')
    .evaluateAll((cells) => cells.map((c) => parseInt(c.textContent ?? '0', 10)));
  expect(latencies).toHaveLength(2);
  for (const ms of latencies) {
    expect(ms).toBeGreaterThanOrEqual(600);
  }
  await expect(steps(page, 'gap')).toHaveCount(0);
  await page.locator('[data-lab-action="latency-off"]').click();
  await expectConverged(request, board, [page]);
});

test('a pause holds frames, however long; resuming applies them', async ({ browser, request }) => {
  const board = await createBoard(request, 'Pause');
  const page = await open(await browser.newContext(), board, 'push-state', 'long-poll');
  const lab = page.locator('details[data-lab]');
  await lab.locator('summary').first().click();
  await page.locator('[data-lab-action="pause"]').click();
  await expect(page.locator('[data-lab-status]')).toContainText('paused');

  await command(request, board, { type: 'add_todo', title: 'held' });
  await page.waitForTimeout(1500);
  await expect(page.locator('[data-board-seq]')).toHaveAttribute('data-board-seq', '0');
  await page.locator('[data-lab-action="pause"]').click();
  await expectConverged(request, board, [page]);
  await expect(steps(page, 'pause')).toHaveCount(1);
  await expect(steps(page, 'resume')).toHaveCount(1);
});

test('a compare pane broken by a preset recovers alone, and every pane converges', async ({ page, request }) => {
  const board = await createBoard(request, 'Presets');
  await page.goto(`/boards/${board}/compare?panes=push-ops:sse,event-diff:ws,push-events:long-poll`);
  await expect(page.locator('section.compare')).toHaveAttribute('data-hydrated', 'true', { timeout: HYDRATION_MS });
  const panes = page.locator('.pane-wrap');
  await expect(panes).toHaveCount(3);
  for (let i = 0; i < 3; i++) {
    await expect(panes.nth(i).locator('[data-board-seq]')).toHaveAttribute('data-conn', 'live');
  }
  await panes.nth(0).locator('[data-preset="drop-3"]').click();
  await panes.nth(1).locator('[data-preset="cut-3s"]').click();
  await expect(panes.nth(1).locator('[data-board-seq]')).toHaveAttribute('data-conn', 'offline');
  for (const title of ['a', 'b', 'c', 'd']) {
    await command(request, board, { type: 'add_todo', title });
  }
  const truth = await state(request, board);
  for (let i = 0; i < 3; i++) {
    await expect(panes.nth(i).locator('[data-board-seq]')).toHaveAttribute('data-board-seq', String(truth.seq), {
      timeout: 15_000,
    });
  }
  await expect(page.locator('[data-agreement]')).toHaveText(Array(3).fill('converged'));
  await expect(panes.nth(0).locator('[data-wire="timeline"] tr[data-step="backfill"]')).toHaveCount(1);
  await expect(panes.nth(1).locator('[data-wire="timeline"] tr[data-step="reconnect"]').first()).toBeAttached();
  await expect(panes.nth(2).locator('[data-wire="timeline"] tbody tr')).toHaveCount(0);
});
