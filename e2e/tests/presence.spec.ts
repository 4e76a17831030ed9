// Presence and live cursors in Chromium: two browsers (two contexts, so two persons) see
// each other on the presence list; a pointer moving in one shows, named, in the other,
// over a WebRTC data channel (`p2p`), or through the server (`relay`) when one of them has
// no WebRTC; closing a browser takes it off the other's list.
import { test, expect, Page, BrowserContext } from '@playwright/test';
import { createBoard, open, HYDRATION_MS } from './helpers';

/** This tab's client id and its browser's person id, from the page root. */
async function who(page: Page) {
  const root = page.locator('[data-board-seq]');
  await expect(root).toHaveAttribute('data-client', /.+/);
  return {
    client: (await root.getAttribute('data-client')) as string,
    person: (await root.getAttribute('data-person')) as string,
    name: await page.locator('[data-my-name]').inputValue(),
  };
}

/** Moves the pointer to fractions (x, y) of the board's area. The board is taller than the
 * window (its history, inspector and lab are part of it): a point below the window is
 * scrolled into view first, since a pointer outside the viewport moves over nothing. */
async function pointAt(page: Page, x: number, y: number) {
  const board = page.locator('[data-board-seq]');
  let box = await board.boundingBox();
  if (!box) throw new Error('the board has no box');
  const height = page.viewportSize()?.height ?? 720;
  const at = box.y + box.height * y;
  if (at < 0 || at > height) {
    await page.evaluate((by) => window.scrollBy(0, by), at - height / 2);
    box = (await board.boundingBox())!;
  }
  await page.mouse.move(box.x + box.width * x, box.y + box.height * y);
}

/** Where a remote cursor is shown, as fractions (from its style). */
async function shownAt(page: Page, client: string) {
  return page.locator(`[data-cursor-client="${client}"]`).evaluate((el) => [
    parseFloat((el as HTMLElement).style.left) / 100,
    parseFloat((el as HTMLElement).style.top) / 100,
  ]);
}

/** Moves the pointer in `from` until `to` shows its cursor over `link`. */
async function cursorArrives(from: Page, to: Page, client: string, link: 'p2p' | 'relay') {
  const cursor = to.locator(`[data-cursor-client="${client}"]`);
  let step = 0;
  await expect(async () => {
    step += 1;
    await pointAt(from, 0.2 + (step % 5) * 0.05, 0.3);
    await expect(cursor).toHaveAttribute('data-link', link, { timeout: 400 });
  }).toPass({ timeout: 20_000 });
  return cursor;
}

/** How long a move in `from` takes to show in `to` (the cursor reaches the new spot). */
async function moveLatency(from: Page, to: Page, client: string, x: number, y: number) {
  const started = Date.now();
  await pointAt(from, x, y);
  await expect
    .poll(async () => {
      const [sx, sy] = await shownAt(to, client);
      return Math.abs(sx - x) < 0.01 && Math.abs(sy - y) < 0.01;
    }, { timeout: 2_000, intervals: [10] })
    .toBe(true);
  return Date.now() - started;
}

let contexts: BrowserContext[] = [];
test.afterEach(async () => {
  for (const context of contexts) await context.close().catch(() => {});
  contexts = [];
});

test('two browsers see each other and their cursors over a data channel', async ({ browser, request }) => {
  const board = await createBoard(request, 'presence e2e');
  contexts = [await browser.newContext(), await browser.newContext()];
  const a = await open(contexts[0], board, 'event-diff', 'sse');
  const b = await open(contexts[1], board, 'push-ops', 'ws');
  const [me, them] = [await who(a), await who(b)];
  expect(me.person).not.toBe(them.person);
  await expect(a.locator(`[data-presence-person="${them.person}"]`)).toContainText(them.name);
  await expect(b.locator(`[data-presence-person="${me.person}"]`)).toContainText(me.name);
  await expect(b.locator(`[data-presence-person="${me.person}"]`)).toContainText('event-diff · sse');
  // The inspector lists presence frames apart from the change log's.
  await expect(a.locator('[data-wire="ephemeral"] .frame-presence').first()).toBeAttached();
  await expect(a.locator('[data-wire="log"] .frame-presence')).toHaveCount(0);

  const cursor = await cursorArrives(a, b, me.client, 'p2p');
  await expect(cursor).toContainText(me.name);
  // The move arrives (within moveLatency's 2 s). Its time is printed, not bounded: it is
  // mostly the harness's own mouse event and polls over CDP (about 300 ms on a quiet
  // machine, over 500 on a loaded one), so a bound here failed on a busy CI machine while
  // the channel was fine. Which path the cursor took is what cursorArrives asserts.
  const latency = await moveLatency(a, b, me.client, 0.7, 0.6);
  console.log(`p2p cursor move shown after ${latency} ms`);
  // And the other way.
  await cursorArrives(b, a, them.client, 'p2p');

  // Closing one browser takes it off the other's list.
  await contexts[1].close();
  await expect(a.locator(`[data-presence-person="${them.person}"]`)).toHaveCount(0, { timeout: 3_000 });
  await expect(a.locator(`[data-cursor-client="${them.client}"]`)).toHaveCount(0);
});

test('without WebRTC a cursor goes through the relay and still moves', async ({ browser, request }) => {
  const board = await createBoard(request, 'relay e2e');
  contexts = [await browser.newContext(), await browser.newContext()];
  await contexts[0].addInitScript(() => {
    // This browser has no WebRTC: its peers must use the server's relay.
    delete (window as unknown as Record<string, unknown>).RTCPeerConnection;
  });
  const a = await open(contexts[0], board, 'push-state', 'long-poll');
  const b = await open(contexts[1], board, 'event-diff', 'sse');
  const [me, them] = [await who(a), await who(b)];
  await expect(b.locator(`[data-presence-person="${me.person}"]`)).toBeVisible();
  const cursor = await cursorArrives(a, b, me.client, 'relay');
  await expect(cursor).toContainText(me.name);
  const latency = await moveLatency(a, b, me.client, 0.65, 0.45);
  console.log(`relayed cursor move shown after ${latency} ms`);
  // Relayed cursors reach the page as frames, so the inspector shows them with their size.
  await expect(b.locator('[data-wire="ephemeral"] .frame-cursor').first()).toBeAttached();
  // The other way: the browser with WebRTC gives up on the channel after 5 s.
  await cursorArrives(b, a, them.client, 'relay');
});

test('a renamed person shows under the new name', async ({ browser, request }) => {
  const board = await createBoard(request, 'rename e2e');
  contexts = [await browser.newContext(), await browser.newContext()];
  const a = await open(contexts[0], board);
  const b = await open(contexts[1], board, 'poke-pull', 'poll');
  const me = await who(a);
  await a.locator('[data-my-name]').fill('Grace Hopper');
  await a.locator('[data-my-name]').press('Enter');
  await expect(b.locator(`[data-presence-person="${me.person}"]`)).toContainText('Grace Hopper');
  // The name is the browser's: a second tab of it has it too, and counts as a second tab.
  const again = await open(contexts[0], board);
  await expect(again.locator('[data-my-name]')).toHaveValue('Grace Hopper');
  await expect(b.locator(`[data-presence-person="${me.person}"]`)).toContainText('2 tabs');
});

test("the compare page's panes are present: one person, a tab per pane", async ({ browser, request }) => {
  const board = await createBoard(request, 'compare presence e2e');
  contexts = [await browser.newContext(), await browser.newContext()];
  const compare = await contexts[0].newPage();
  await compare.goto(`/boards/${board}/compare?panes=push-ops:ws,poke-pull:long-poll,event-diff:poll`);
  await expect(compare.locator('section.compare')).toHaveAttribute('data-hydrated', 'true', { timeout: HYDRATION_MS });
  const b = await open(contexts[1], board);
  const me = await who(b);
  await expect(b.locator('[data-presence-person]')).toHaveCount(2);
  const panes = b.locator('[data-presence-person]').filter({ hasNotText: me.name });
  await expect(panes).toContainText('3 tabs');
  await expect(panes).toContainText('poke-pull · long-poll');
  await expect(panes).toContainText('event-diff · poll');
});
