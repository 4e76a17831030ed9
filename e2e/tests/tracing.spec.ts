// Tracing in the page: a tab traced from its inspector sends its changes with a W3C
// traceparent; the waterfall of such a change shows every hop, from the command the server
// received to this page applying it, in the tab that made it and in another that received
// it (which reports its apply, so the first tab sees that too); and the server exported the
// trace's spans over OTLP (to a receiver of our own: support/otlp-receiver.mjs).
import { test, expect, Page } from '@playwright/test';
import { addTodo, createBoard, open } from './helpers';

const HOPS = ['command', 'commit', 'publish', 'receive', 'process', 'received', 'applied'];

/** Opens the wire inspector, unless it is open. */
async function openInspector(page: Page) {
  const inspector = page.locator('details.inspector');
  if ((await inspector.getAttribute('open')) === null) await inspector.locator('> summary').click();
  await expect(inspector.locator('[data-traces]')).toBeVisible();
}

/** Opens the inspector's waterfall of the newest traced change this page applied. */
async function waterfallOfNewest(page: Page) {
  await openInspector(page);
  const newest = page.locator('[data-traces] li[data-trace]').first();
  await expect(newest).toBeVisible();
  const trace = await newest.getAttribute('data-trace');
  expect(trace).toMatch(/^[0-9a-f]{32}$/);
  await newest.locator('button').click();
  const waterfall = page.locator(`[data-waterfall="${trace}"]`);
  await expect(waterfall).toBeVisible();
  return { trace: trace!, waterfall };
}

test('the waterfall of a traced change shows every hop, in the tab that made it and in one that received it', async ({ browser, request }) => {
  const board = await createBoard(request, 'traced');
  const context = await browser.newContext();
  const elsewhere = await browser.newContext();
  const writer = await open(context, board, 'push-ops', 'ws');
  const reader = await open(elsewhere, board, 'event-diff', 'sse');

  // Tracing is this tab's choice: the other sends nothing traced.
  await openInspector(writer);
  await writer.locator('[data-trace-tab]').check();
  await addTodo(writer, 'followed');
  await expect(reader.locator('[data-todo-id]')).toHaveCount(1);

  // The writer's own change, sent up its socket with a traceparent.
  const mine = await waterfallOfNewest(writer);
  await expect(writer.locator(`[data-traces] li[data-trace="${mine.trace}"]`)).toContainText("this browser's");
  for (const hop of HOPS) {
    await expect(mine.waterfall.locator(`tr[data-hop="${hop}"]`).first(), hop).toBeVisible();
  }
  // Every hop's offset is a number of ms from the command, and the command comes first.
  await expect(mine.waterfall.locator('tbody tr').first()).toHaveAttribute('data-hop', 'command');

  // The reader received the same trace, listed as someone else's, with every hop too.
  const theirs = await waterfallOfNewest(reader);
  expect(theirs.trace).toBe(mine.trace);
  await expect(reader.locator(`[data-traces] li[data-trace="${theirs.trace}"]`)).toContainText("someone else's");
  for (const hop of HOPS) {
    await expect(theirs.waterfall.locator(`tr[data-hop="${hop}"]`).first(), hop).toBeVisible();
  }
  // Both tabs reported their apply: the server's hops list them (Refresh asks again).
  await expect
    .poll(async () => {
      await mine.waterfall.locator('[data-waterfall-refresh]').click();
      return mine.waterfall.locator('tr[data-hop="apply"]').count();
    }, { timeout: 10_000 })
    .toBe(2);
  await expect(mine.waterfall.locator('tr[data-hop="apply"]').filter({ hasText: 'sse · event-diff' })).toHaveCount(1);

  // The same trace reached the server's exporter: the receiver of our own (OTLP/HTTP JSON)
  // holds its spans, the command's first, each applied reported (the exporter sends every 5 s).
  await expect
    .poll(
      async () => {
        const spans: { name: string }[] = await (await request.get(`${otlpReceiver()}/traces/${mine.trace}`)).json();
        return [...new Set(spans.map((s) => s.name))].sort();
      },
      { timeout: 20_000 },
    )
    .toEqual(['apply', 'command', 'commit', 'process board', 'publish board', 'receive board']);
  await context.close();
  await elsewhere.close();
});

/** Where the server under test exports its spans: playwright.config.ts starts the receiver;
 * a server started elsewhere (E2E_BASE_URL) names its receiver in E2E_OTLP_URL. */
function otlpReceiver(): string {
  if (!process.env.E2E_BASE_URL) return `http://127.0.0.1:${process.env.E2E_OTLP_PORT ?? 3198}`;
  const url = process.env.E2E_OTLP_URL;
  if (!url) throw new Error('E2E_BASE_URL needs E2E_OTLP_URL: the OTLP/HTTP JSON receiver its server exports to');
  return url;
}

test('an untraced tab sends no trace context and its changes carry none', async ({ browser, request }) => {
  const board = await createBoard(request, 'untraced');
  const context = await browser.newContext();
  const page = await open(context, board, 'push-events', 'sse');
  const traceparents: (string | undefined)[] = [];
  page.on('request', (r) => {
    if (r.url().endsWith('/commands')) traceparents.push(r.headers()['traceparent']);
  });
  await addTodo(page, 'plain');
  await expect(page.locator('[data-board-seq]')).toHaveAttribute('data-board-seq', '1');
  expect(traceparents).toEqual([undefined]);
  await openInspector(page);
  await expect(page.locator('[data-traces] li[data-trace]')).toHaveCount(0);
  await context.close();
});
