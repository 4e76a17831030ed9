// Private boards in the browser: a share link stores its key in a cookie and drops it from
// the URL; the board then works on every transport and after a reload; a read-only link
// shows the board without editing controls; rotating the keys withdraws access from a tab
// that is already open.
import { test, expect, request as playwrightRequest, APIRequestContext } from '@playwright/test';
import { expectConverged, state } from './helpers';

type Private = { id: string; read: string; write: string };

async function privateBoard(baseURL: string): Promise<Private> {
  const anonymous = await playwrightRequest.newContext({ baseURL });
  const res = await anonymous.post('/api/boards', { data: { name: 'Private plans' } });
  expect(res.status()).toBe(201);
  const created = await res.json();
  await anonymous.dispose();
  return { id: created.id, read: created.keys.read, write: created.keys.write };
}

/** A tool holding a key: `Authorization: Bearer`. */
function withKey(baseURL: string, key: string): Promise<APIRequestContext> {
  return playwrightRequest.newContext({ baseURL, extraHTTPHeaders: { Authorization: `Bearer ${key}` } });
}

for (const transport of ['poll', 'long-poll', 'sse', 'ws']) {
  test(`a private board opened by its share link works over ${transport} and after a reload`, async ({
    browser,
    baseURL,
  }) => {
    const board = await privateBoard(baseURL!);
    const api = await withKey(baseURL!, board.write);
    const context = await browser.newContext({ baseURL });
    const page = await context.newPage();
    await page.goto(`/boards/${board.id}?key=${board.write}&pattern=event-diff&transport=${transport}&poll_ms=250`);
    // The key went into a cookie; the address bar no longer shows it.
    expect(page.url()).not.toContain('key=');
    expect(page.url()).toContain(`transport=${transport}`);
    await expect(page.locator('[data-board-seq]')).toHaveAttribute('data-conn', 'live');
    const cookies = await context.cookies();
    expect(cookies.find((c) => c.name === `board_key.${board.id}`)).toMatchObject({ httpOnly: true, sameSite: 'Lax' });

    await api.post(`/api/boards/${board.id}/commands`, { data: { type: 'add_todo', title: 'from a tool' } });
    await page.locator('[data-add-todo]').first().fill('from the page');
    await page.locator('.add-todo button').first().click();
    await expectConverged(api, board.id, [page], 2);

    await page.reload();
    await expect(page.locator('[data-board-seq]')).toHaveAttribute('data-conn', 'live');
    await api.post(`/api/boards/${board.id}/commands`, { data: { type: 'add_todo', title: 'after the reload' } });
    await expectConverged(api, board.id, [page], 3);
    await context.close();
    await api.dispose();
  });
}

test('the read-only link shows the board without editing controls and commands are refused', async ({
  browser,
  baseURL,
}) => {
  const board = await privateBoard(baseURL!);
  const writer = await withKey(baseURL!, board.write);
  await writer.post(`/api/boards/${board.id}/commands`, { data: { type: 'add_todo', title: 'visible to readers' } });
  const page = await (await browser.newContext({ baseURL })).newPage();
  await page.goto(`/boards/${board.id}?key=${board.read}&transport=sse`);
  await expect(page.locator('[data-board-seq]')).toHaveAttribute('data-conn', 'live');
  await expect(page.locator('.todo-title')).toHaveText(['visible to readers']);
  await expect(page.locator('[data-read-only]')).toBeVisible();
  await expect(page.locator('.add-todo')).toHaveCount(0);
  await expect(page.locator('.add-sprint')).toHaveCount(0);
  await expect(page.locator('.todo-controls')).toHaveCount(0);
  await expect(page.locator('[data-share]')).toHaveCount(0);
  // A command sent anyway, from the page with its cookie, is refused and changes nothing.
  const status = await page.evaluate(async (id) => {
    const res = await fetch(`/api/boards/${id}/commands`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ type: 'add_todo', title: 'sneaky' }),
    });
    return res.status;
  }, board.id);
  expect(status).toBe(403);
  expect((await state(writer, board.id)).seq).toBe(1);
  // The change a writer makes still reaches the reader.
  await writer.post(`/api/boards/${board.id}/commands`, { data: { type: 'add_todo', title: 'second' } });
  await expectConverged(writer, board.id, [page], 2);
  await writer.dispose();
});

test('rotating the keys withdraws access from open tabs', async ({ browser, baseURL }) => {
  const board = await privateBoard(baseURL!);
  const pages = [];
  for (const transport of ['sse', 'ws', 'long-poll']) {
    const page = await (await browser.newContext({ baseURL })).newPage();
    await page.goto(`/boards/${board.id}?key=${board.read}&transport=${transport}`);
    await expect(page.locator('[data-board-seq]')).toHaveAttribute('data-conn', 'live');
    pages.push(page);
  }
  const owner = await withKey(baseURL!, board.write);
  const rotated = await owner.post(`/api/boards/${board.id}/keys`);
  expect(rotated.status()).toBe(200);
  for (const page of pages) {
    await expect(page.locator('[data-board-seq]')).toHaveAttribute('data-conn', 'revoked', { timeout: 10_000 });
    await expect(page.locator('.notice')).toContainText('withdrawn');
  }
  // A reload with the old cookie finds nothing.
  const reloaded = await pages[0].reload();
  expect(reloaded?.status()).toBe(404);
  await owner.dispose();
});

test('with JavaScript disabled, the add form posts to the server function and returns to the board', async ({
  browser,
  baseURL,
}) => {
  const board = await privateBoard(baseURL!);
  const api = await withKey(baseURL!, board.write);
  const context = await browser.newContext({ baseURL, javaScriptEnabled: false });
  const page = await context.newPage();
  // The share link works without a script too: the server stores the key and redirects.
  await page.goto(`/boards/${board.id}?key=${board.write}`);
  expect(page.url()).not.toContain('key=');
  // Nothing hydrated: this is the server's rendering alone.
  await expect(page.locator('[data-board-seq]')).toHaveAttribute('data-hydrated', 'false');
  const input = page.locator('[data-column="backlog"] [data-add-todo]');
  await input.fill('without a script');
  await page.locator('[data-column="backlog"] .add-todo button').click();
  await expect(page).toHaveURL(new RegExp(`/boards/${board.id}$`));
  await expect(page.locator('[data-column="backlog"] .todo-title')).toHaveText(['without a script']);
  expect((await state(api, board.id)).todos.map((t) => t.title)).toEqual(['without a script']);

  // A refusal comes back to the board as a notice, and changes nothing.
  await page.locator('[data-column="backlog"] [data-add-todo]').fill('   ');
  await page.locator('[data-column="backlog"] .add-todo button').click();
  await expect(page.locator('[data-form-error]')).toContainText('its title was empty or too long');
  expect((await state(api, board.id)).seq).toBe(1);
  await context.close();
  await api.dispose();
});
