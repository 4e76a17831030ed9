// Several replicas behind nginx (scripts/cluster: Postgres, Redis, three replicas, the
// nginx configuration docker-compose uses). Browsers land on different replicas; one
// replica is killed with SIGKILL mid-stream; every browser converges on the board.
import { test, expect, request as playwrightRequest, APIRequestContext } from '@playwright/test';
import { spawn, ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { createBoard, expectConverged, open } from './helpers';

const root = path.resolve(__dirname, '..', '..');
const target = process.env.CARGO_TARGET_DIR ? path.resolve(root, process.env.CARGO_TARGET_DIR) : path.join(root, 'target');
const port = Number(process.env.E2E_CLUSTER_PORT ?? 8091);
const base = `http://127.0.0.1:${port}`;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'board-e2e-cluster-'));
let cluster: ChildProcess;
let api: APIRequestContext;

test.describe.configure({ mode: 'serial' });

test.beforeAll(async () => {
  cluster = spawn('bash', ['scripts/cluster', '3'], {
    cwd: root,
    detached: true,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: {
      ...process.env,
      SERVER_BIN: path.join(target, 'debug', 'server'),
      LEPTOS_SITE_ROOT: path.join(target, 'site'),
      CLUSTER_PORT: String(port),
      CLUSTER_BASE_PORT: String(port + 10),
      CLUSTER_DIR: dir,
      DATABASE_URL: `postgres://postgres@127.0.0.1:5432/board_e2e_cluster_${Date.now()}`,
      RUST_LOG: 'warn',
    },
  });
  api = await playwrightRequest.newContext({ baseURL: base });
  for (let i = 0; i < 200; i++) {
    try {
      if ((await api.get('/readyz')).ok()) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error('the cluster did not become ready');
});

test.afterAll(async () => {
  if (cluster?.pid) process.kill(-cluster.pid, 'SIGTERM');
  await api?.dispose();
});

/** A command through nginx, retried with its Idempotency-Key while a replica is down. */
async function send(board: string, body: object) {
  const key = `k-${Math.random().toString(36).slice(2)}`;
  for (let attempt = 0; attempt < 20; attempt++) {
    const res = await api.post(`/api/boards/${board}/commands`, { data: body, headers: { 'Idempotency-Key': key } });
    if (res.status() === 200) return res.json();
    expect([502, 503, 504]).toContain(res.status());
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`command never committed: ${JSON.stringify(body)}`);
}

test('browsers on different replicas converge when one replica is killed', async ({ browser }) => {
  const board = await createBoard(api, 'Cluster');
  const setups: [string, string][] = [
    ['event-diff', 'sse'],
    ['push-ops', 'ws'],
    ['poke-pull', 'long-poll'],
    ['push-events', 'sse'],
  ];
  const pages = [];
  for (const [pattern, transport] of setups) {
    pages.push(await open(await browser.newContext({ baseURL: base }), board, pattern, transport));
  }
  const replicaOf = (i: number) => pages[i].locator('.board-foot .replica').textContent();
  const replicas = new Set<string>();
  for (let i = 0; i < pages.length; i++) replicas.add((await replicaOf(i))!);
  expect(replicas.size, `browsers spread over replicas: ${[...replicas]}`).toBeGreaterThan(1);

  const sprint = (await send(board, { type: 'add_sprint', name: 'S' })).id;
  await send(board, { type: 'add_todo', title: 'before the kill', sprint_id: sprint });

  // Kill the replica that serves the first browser, mid-stream, with no warning.
  const victim = (await replicaOf(0))!;
  const pid = Number(fs.readFileSync(path.join(dir, `${victim}.pid`), 'utf8'));
  process.kill(pid, 'SIGKILL');
  const killedAt = Date.now();
  for (let i = 0; i < 10; i++) {
    await send(board, { type: 'add_todo', title: `after the kill ${i}` });
  }
  await send(board, { type: 'start_sprint', id: sprint });
  const last = (await send(board, { type: 'complete_sprint', id: sprint })).seq;

  await expectConverged(api, board, pages, last);
  console.log(`cluster: all browsers converged ${Date.now() - killedAt} ms after ${victim} was killed (12 commands in between)`);
  await expect(pages[0].locator('[data-board-seq]')).toHaveAttribute('data-conn', 'live');
  expect(await replicaOf(0)).not.toBe(victim);
});
