// The pattern × transport matrix in the browser: every combination converges, mixed
// clients converge on one board, switching live loses nothing, and a client that goes
// offline for a while catches up on every transport.
import { test, expect, APIRequestContext } from '@playwright/test';
import { command, createBoard, expectConverged, open } from './helpers';

// Pages left open keep polling and streaming (every 250 ms on poll) and slow every later
// page's hydration on two cores: each test's browsers close when it ends.
test.afterEach(async ({ browser }) => {
  await Promise.all(browser.contexts().map((context) => context.close().catch(() => {})));
});

const PATTERNS = ['poke-pull', 'push-state', 'push-ops', 'push-events', 'event-diff'];
const TRANSPORTS = ['poll', 'long-poll', 'sse', 'ws'];

/** Plans a sprint, works it, completes it (unfinished work returns to the backlog). */
async function script(request: APIRequestContext, board: string) {
  const sprint = (await command(request, board, { type: 'add_sprint', name: 'Sprint 1' })).id;
  const a = (await command(request, board, { type: 'add_todo', title: 'a', sprint_id: sprint })).id;
  const b = (await command(request, board, { type: 'add_todo', title: 'b', sprint_id: sprint })).id;
  const c = (await command(request, board, { type: 'add_todo', title: 'c' })).id;
  await command(request, board, { type: 'move_todo', id: c, sprint_id: sprint, position: 0 });
  await command(request, board, { type: 'start_sprint', id: sprint });
  await command(request, board, { type: 'set_todo_status', id: a, status: 'done' });
  await command(request, board, { type: 'rename_todo', id: b, title: 'b, renamed' });
  await command(request, board, { type: 'complete_sprint', id: sprint });
  await command(request, board, { type: 'delete_todo', id: a });
}

for (const pattern of PATTERNS) {
  for (const transport of TRANSPORTS) {
    test(`${pattern} over ${transport}: two clients converge`, async ({ browser, request }) => {
      const board = await createBoard(request, `${pattern} ${transport}`);
      const one = await browser.newContext();
      const two = await browser.newContext();
      const a = await open(one, board, pattern, transport);
      const b = await open(two, board, pattern, transport);
      // A change made in the page travels this transport's command path (a WebSocket
      // sends it up the socket; the others POST it).
      await a.fill('[data-column="backlog"] input[name="title"]', `from the page over ${transport}`);
      await a.click('[data-column="backlog"] .add-todo button');
      await expect(b.locator('[data-column="backlog"] .todo-title')).toHaveText([`from the page over ${transport}`]);
      await script(request, board);
      await expectConverged(request, board, [a, b]);
      await one.close();
      await two.close();
    });
  }
}

test('five clients on five patterns over mixed transports converge on one board', async ({ browser, request }) => {
  const board = await createBoard(request, 'Five patterns');
  const transports = ['poll', 'long-poll', 'sse', 'ws', 'sse'];
  const pages = [];
  for (const [i, pattern] of PATTERNS.entries()) {
    pages.push(await open(await browser.newContext(), board, pattern, transports[i]));
  }
  await script(request, board);
  await expectConverged(request, board, pages);
});

test('switching pattern and transport mid-stream still converges', async ({ browser, request }) => {
  const board = await createBoard(request, 'Switching');
  const page = await open(await browser.newContext(), board, 'push-ops', 'sse');
  const watcher = await open(await browser.newContext(), board, 'event-diff', 'ws');
  let writing = true;
  const writes = (async () => {
    for (let i = 0; writing && i < 60; i++) {
      await command(request, board, { type: 'add_todo', title: `w${i}` });
      await new Promise((r) => setTimeout(r, 60));
    }
  })();
  const steps: [string, string][] = [
    ['poke-pull', 'poll'],
    ['push-events', 'ws'],
    ['push-state', 'long-poll'],
    ['event-diff', 'sse'],
    ['push-ops', 'ws'],
  ];
  for (const [pattern, transport] of steps) {
    await page.waitForTimeout(400);
    await page.selectOption('select[name="pattern"]', pattern);
    await page.selectOption('select[name="transport"]', transport);
    await expect(page.locator('[data-board-seq]')).toHaveAttribute('data-conn', 'live');
    expect(page.url()).toContain(`pattern=${pattern}&transport=${transport}`);
  }
  writing = false;
  await writes;
  await script(request, board);
  await expectConverged(request, board, [page, watcher]);
});

for (const transport of TRANSPORTS) {
  test(`offline for 5 s on ${transport}, then caught up`, async ({ browser, request }) => {
    const board = await createBoard(request, `Offline ${transport}`);
    const context = await browser.newContext();
    const page = await open(context, board, 'push-ops', transport);
    const online = await open(await browser.newContext(), board, 'event-diff', 'sse');
    await context.setOffline(true);
    for (let i = 0; i < 10; i++) {
      await command(request, board, { type: 'add_todo', title: `while offline ${i}` });
      await new Promise((r) => setTimeout(r, 500));
    }
    await context.setOffline(false);
    await command(request, board, { type: 'add_todo', title: 'back online' });
    await expectConverged(request, board, [page, online]);
    await expect(page.locator('[data-board-seq]')).toHaveAttribute('data-conn', 'live');
  });
}
