// Webhooks on the page: register one in the panel, change the board, and watch the
// delivery reach a receiver (a small HTTP server in this test, on the port the suite's
// server allows with WEBHOOK_ALLOW) and appear in the panel's delivery log.
import { test, expect } from '@playwright/test';
import * as http from 'http';
import { createOwnedBoard, open } from './helpers';

const HOOK_PORT = Number(process.env.E2E_HOOK_PORT ?? 3199);

test('a webhook added on the page delivers, and its log shows it', async ({ browser, request }) => {
  const received: { headers: http.IncomingHttpHeaders; body: any }[] = [];
  const receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      received.push({ headers: req.headers, body: JSON.parse(body) });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(HOOK_PORT, '127.0.0.1', resolve));
  try {
    const { id: board, write } = await createOwnedBoard(request, 'webhooks e2e');
    const context = await browser.newContext();
    // Without the board's write key, a public board's webhooks are not this browser's.
    const visitor = await open(await browser.newContext(), board);
    await expect(visitor.locator('[data-admin-hint]')).toBeVisible();
    await expect(visitor.locator('[data-webhooks]')).toHaveCount(0);
    await visitor.context().close();
    // Its owner opens the write link.
    const page = await open(context, board, 'event-diff', 'sse', write);
    await page.locator('[data-webhooks] summary').click();
    await page.locator('[data-webhook-url]').fill(`http://127.0.0.1:${HOOK_PORT}/hook`);
    await page.getByRole('button', { name: 'Add webhook' }).click();
    await expect(page.locator('[data-webhook-secret]')).toContainText('whsec_');
    const hook = page.locator('[data-webhook]');
    await expect(hook).toHaveCount(1);

    await page.locator('[data-add-todo]').first().fill('tell the other server');
    await page.locator('[data-add-todo]').first().press('Enter');
    await expect(hook.locator('[data-webhook-delivered]')).toHaveAttribute('data-webhook-delivered', '1');
    await hook.getByRole('button', { name: 'Deliveries' }).click();
    await expect(page.locator('[data-delivery-seq="1"]')).toContainText('200');

    expect(received).toHaveLength(1);
    expect(received[0].body.board).toBe(board);
    expect(received[0].body.frame.seq).toBe(1);
    expect(received[0].headers['webhook-signature']).toMatch(/^v1,/);
    await context.close();
  } finally {
    receiver.close();
  }
});
