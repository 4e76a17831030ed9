// Shared helpers: the API calls, opening a board page, and the convergence check that
// compares what a page shows with `GET` state.
import { expect, Page, APIRequestContext, BrowserContext } from '@playwright/test';

export type Todo = { id: number; title: string; status: string; sprint_id: number | null; position: string };
export type BoardState = { seq: number; todos: Todo[]; sprints: { id: number; name: string; status: string }[] };

/** A public board: these tests are about delivery; access.spec.ts tests private boards. */
export async function createBoard(request: APIRequestContext, name: string): Promise<string> {
  return (await createOwnedBoard(request, name)).id;
}

/** A public board and its write key, which administers it (webhooks, the replica's faults). */
export async function createOwnedBoard(request: APIRequestContext, name: string): Promise<{ id: string; write: string }> {
  const res = await request.post('/api/boards', { data: { name, visibility: 'public' } });
  expect(res.status()).toBe(201);
  const created = await res.json();
  return { id: created.id, write: created.keys.write };
}

export async function command(request: APIRequestContext, board: string, body: object) {
  const res = await request.post(`/api/boards/${board}/commands`, { data: body });
  expect(res.status(), JSON.stringify(body)).toBe(200);
  return res.json();
}

export async function state(request: APIRequestContext, board: string): Promise<BoardState> {
  const res = await request.get(`/api/boards/${board}`);
  expect(res.status()).toBe(200);
  return res.json();
}

/** How long a page may take to hydrate: the release bundle takes well under a second
 * here, but a machine with a load of 6 on 2 cores is slower at everything. */
export const HYDRATION_MS = 30_000;

/** Opens the board and waits until the client engine runs and its stream is live. With a
 * `key`, through its share link: the browser keeps the key (a cookie) and the URL drops it. */
export async function open(
  context: BrowserContext,
  board: string,
  pattern = 'event-diff',
  transport = 'sse',
  key?: string,
): Promise<Page> {
  const page = await context.newPage();
  page.on('dialog', (d) => {
    throw new Error(`unexpected dialog: ${d.message()}`);
  });
  // A short poll interval keeps the poll cells quick; the default (2 s) is for people.
  const share = key ? `&key=${key}` : '';
  await page.goto(`/boards/${board}?pattern=${pattern}&transport=${transport}&poll_ms=250${share}`);
  // The page says when it is ready (its engine runs once the wasm has hydrated it): wait
  // for that, as long as a busy machine needs, rather than a fixed few seconds.
  await expect(page.locator('[data-board-seq]')).toHaveAttribute('data-hydrated', 'true', { timeout: HYDRATION_MS });
  // Then the stream: on a busy machine its first connection (and the reconnect that
  // carries the tab's presence name) can take longer than the default 10 s as well.
  await expect(page.locator('[data-board-seq]')).toHaveAttribute('data-conn', 'live', { timeout: HYDRATION_MS });
  return page;
}

export async function seqOf(page: Page): Promise<number> {
  return Number(await page.locator('[data-board-seq]').getAttribute('data-board-seq'));
}

/** What a page shows: every card's id and title, column by column, in order. */
export async function shown(page: Page) {
  return page.locator('[data-column]').evaluateAll((columns) =>
    columns.map((c) => ({
      column: c.getAttribute('data-column'),
      todos: Array.from(c.querySelectorAll('[data-todo-id]')).map(
        (t) => `${t.getAttribute('data-todo-id')}:${t.querySelector('.todo-title')?.textContent ?? ''}`,
      ),
    })),
  );
}

/** The same view computed from `GET` state. */
export function expected(s: BoardState) {
  const column = (sprint: number | null) =>
    s.todos
      .filter((t) => t.sprint_id === sprint)
      // Positions are sparse keys compared as strings (ASCII hex: `<` orders them as bytes).
      .sort((a, b) => (a.position < b.position ? -1 : a.position > b.position ? 1 : a.id - b.id))
      .map((t) => `${t.id}:${t.title}`);
  return [
    { column: 'backlog', todos: column(null) },
    ...s.sprints.map((sp) => ({ column: `sprint-${sp.id}`, todos: column(sp.id) })),
  ];
}

/**
 * Both pages reach the server's seq and show exactly the server's board. With several
 * replicas, `atLeast` is the seq the last write was acknowledged at: a `GET` through the
 * load balancer may reach a replica that hears of it a moment later, so wait for it.
 */
export async function expectConverged(request: APIRequestContext, board: string, pages: Page[], atLeast = 0) {
  // A page's own commands first reach the server: until then it rightly shows them (pending)
  // and the truth does not have them yet.
  for (const page of pages) {
    await expect(page.locator('[data-board-seq]')).toHaveAttribute('data-pending-count', '0');
  }
  let truth = await state(request, board);
  for (let i = 0; truth.seq < atLeast && i < 100; i++) {
    await new Promise((r) => setTimeout(r, 100));
    truth = await state(request, board);
  }
  expect(truth.seq, 'GET state reaches the last acknowledged write').toBeGreaterThanOrEqual(atLeast);
  for (const page of pages) {
    await expect(page.locator('[data-board-seq]')).toHaveAttribute('data-board-seq', String(truth.seq));
    expect(await shown(page)).toEqual(expected(truth));
  }
}


/** Adds a todo to the backlog as a person does: its input, then Enter. */
export async function addTodo(page: Page, title: string) {
  await page.locator('[data-add-todo]').first().fill(title);
  await page.locator('[data-add-todo]').first().press('Enter');
}
