// The browser bundle as Chromium gets it from the built site (scripts/build-site): names by
// content, sent as the build compressed them, cached for good; the page that links them is
// revalidated at every load, and hydrates. (What a cold load costs: e2e/bench/page-load.mjs.)
import { test, expect, Response } from '@playwright/test';
import { createBoard, open } from './helpers';

const IMMUTABLE = 'public, max-age=31536000, immutable';

test('the wasm has a fingerprinted name, comes precompressed with an immutable cache header, and the page hydrates', async ({
  browser,
  request,
}) => {
  const board = await createBoard(request, 'assets');
  const context = await browser.newContext();
  const responses: Response[] = [];
  context.on('response', (r) => responses.push(r));
  // `open` returns once the page is hydrated and its stream live.
  const page = await open(context, board);

  const named = (pattern: RegExp) => responses.filter((r) => pattern.test(new URL(r.url()).pathname));
  const wasm = named(/\.wasm$/);
  expect(wasm.length, 'the browser loaded the wasm').toBeGreaterThan(0);
  for (const r of wasm) {
    expect(new URL(r.url()).pathname).toMatch(/^\/pkg\/frontend-[0-9a-f]{16}_bg\.wasm$/);
    expect(r.status()).toBe(200);
    const headers = await r.allHeaders();
    // Chromium asks for `gzip, deflate, br, zstd`: it gets the .br file the build wrote.
    expect(['br', 'gzip']).toContain(headers['content-encoding']);
    expect(headers['content-type']).toBe('application/wasm');
    expect(headers['cache-control']).toBe(IMMUTABLE);
  }
  // The script and the stylesheet likewise.
  for (const [pattern, what] of [
    [/^\/pkg\/frontend-[0-9a-f]{16}\.js$/, 'script'],
    [/^\/main-[0-9a-f]{16}\.css$/, 'stylesheet'],
  ] as const) {
    const files = named(pattern);
    expect(files.length, `the browser loaded the ${what}`).toBeGreaterThan(0);
    for (const r of files) {
      const headers = await r.allHeaders();
      expect(['br', 'gzip']).toContain(headers['content-encoding']);
      expect(headers['cache-control']).toBe(IMMUTABLE);
    }
  }
  // The page is revalidated at every load, so it always names the current build.
  const documents = responses.filter((r) => r.request().resourceType() === 'document');
  expect(documents).toHaveLength(1);
  expect((await documents[0].allHeaders())['cache-control']).toBe('no-cache');
  // Hydrated: the page's own code runs (its engine says so), styled by the stylesheet.
  await expect(page.locator('[data-board-seq]')).toHaveAttribute('data-hydrated', 'true');
  const sheets = await page.evaluate(() => [...document.styleSheets].map((s) => ({ href: s.href ?? '', rules: s.cssRules.length })));
  expect(sheets.find((s) => /\/main-[0-9a-f]{16}\.css$/.test(s.href))?.rules ?? 0, 'the stylesheet applies').toBeGreaterThan(0);

  // A second page in the same browser takes the bundle from its cache: no wasm crosses the
  // network again, and no request asks whether it changed.
  const again = await context.newPage();
  const cdp = await context.newCDPSession(again);
  await cdp.send('Network.enable');
  const fetched: string[] = [];
  const cached = new Set<string>();
  cdp.on('Network.requestServedFromCache', ({ requestId }) => cached.add(requestId));
  cdp.on('Network.responseReceived', ({ requestId, response }) => {
    if (response.url.endsWith('.wasm') && !response.fromDiskCache && !response.fromPrefetchCache) fetched.push(requestId);
  });
  await again.goto(`/boards/${board}?pattern=event-diff&transport=sse`);
  await expect(again.locator('[data-board-seq]')).toHaveAttribute('data-hydrated', 'true', { timeout: 30_000 });
  expect(fetched.filter((id) => !cached.has(id)), 'wasm fetched from the network again').toEqual([]);
  await context.close();
});
