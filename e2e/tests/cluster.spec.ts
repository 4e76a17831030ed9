// Several replicas behind nginx. Browsers land on different replicas; the replica serving
// one of them goes away mid-stream; every browser converges on the board, and no request
// through nginx takes more than 2 s while it happens.
//
// Two topologies run this same test:
// - by default, scripts/cluster: Postgres, Redis, three replicas of the debug server and
//   the nginx configuration docker-compose uses; the victim is killed with SIGKILL.
// - with E2E_CLUSTER_URL set (scripts/compose-check): a cluster that is already running,
//   such as `docker compose`; E2E_CLUSTER_STOP is a shell command that stops the replica
//   whose id is in $REPLICA (compose-check: `docker stop`, as a user would).
import { test, expect, request as playwrightRequest, APIRequestContext, APIResponse } from '@playwright/test';
import { spawn, ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { createBoard, expectConverged, open } from './helpers';

const root = path.resolve(__dirname, '..', '..');
const target = process.env.CARGO_TARGET_DIR ? path.resolve(root, process.env.CARGO_TARGET_DIR) : path.join(root, 'target');
const port = Number(process.env.E2E_CLUSTER_PORT ?? 8091);
const external = process.env.E2E_CLUSTER_URL;
const base = external ?? `http://127.0.0.1:${port}`;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'board-e2e-cluster-'));
/** The longest a request through nginx may take while a replica goes away. */
const SLOWEST_MS = 2000;
let cluster: ChildProcess | undefined;
let api: APIRequestContext;

test.describe.configure({ mode: 'serial' });

test.beforeAll(async () => {
  if (!external) {
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
  }
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

/** Every request the test sends through nginx, timed. */
const timings: { what: string; ms: number; status: number }[] = [];
async function timed(what: string, call: () => Promise<APIResponse>): Promise<APIResponse> {
  const started = Date.now();
  let status = 0;
  try {
    const res = await call();
    status = res.status();
    return res;
  } finally {
    timings.push({ what, ms: Date.now() - started, status });
  }
}

/** A command through nginx, retried with its Idempotency-Key while a replica is down. */
async function send(board: string, body: object) {
  const key = `k-${Math.random().toString(36).slice(2)}`;
  for (let attempt = 0; attempt < 20; attempt++) {
    const res = await timed(`POST ${JSON.stringify(body)}`, () =>
      api.post(`/api/boards/${board}/commands`, { data: body, headers: { 'Idempotency-Key': key } }),
    );
    if (res.status() === 200) return res.json();
    expect([502, 503, 504]).toContain(res.status());
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`command never committed: ${JSON.stringify(body)}`);
}

/** Takes the replica away; resolves when it is gone (its process or container ended). */
function stopReplica(replica: string): Promise<void> {
  if (!external) {
    const pid = Number(fs.readFileSync(path.join(dir, `${replica}.pid`), 'utf8'));
    process.kill(pid, 'SIGKILL');
    return Promise.resolve();
  }
  const command = process.env.E2E_CLUSTER_STOP;
  if (!command) throw new Error('E2E_CLUSTER_URL needs E2E_CLUSTER_STOP, a command that stops the replica in $REPLICA');
  return new Promise((resolve, reject) => {
    const stop = spawn('sh', ['-c', command], { stdio: 'inherit', env: { ...process.env, REPLICA: replica } });
    stop.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`E2E_CLUSTER_STOP exited ${code}`))));
  });
}

test('browsers on different replicas converge when one replica goes away, and no request stalls', async ({
  browser,
}) => {
  test.setTimeout(120_000);
  const board = await createBoard(api, 'Cluster');
  const setups: [string, string][] = [
    ['event-diff', 'sse'],
    ['push-ops', 'ws'],
    ['poke-pull', 'long-poll'],
    ['push-events', 'sse'],
  ];
  const pages = [];
  const replicaOf = (i: number) => pages[i].locator('.board-foot .replica').textContent();
  const replicas = new Set<string>();
  // nginx passes requests round-robin, and a page makes several before it opens its
  // stream, so which replica a stream lands on depends on how many: open pages until
  // they are spread over more than one (at most eight), with one more request between
  // pages when they are not, to shift the rotation.
  while (pages.length < setups.length || (replicas.size < 2 && pages.length < 8)) {
    if (pages.length >= setups.length) await api.get('/healthz');
    const [pattern, transport] = setups[pages.length % setups.length];
    pages.push(await open(await browser.newContext({ baseURL: base }), board, pattern, transport));
    replicas.add((await replicaOf(pages.length - 1))!);
  }
  expect(replicas.size, `browsers spread over replicas: ${[...replicas]}`).toBeGreaterThan(1);

  const sprint = (await send(board, { type: 'add_sprint', name: 'S' })).id;
  await send(board, { type: 'add_todo', title: 'before the stop', sprint_id: sprint });

  // Take away the replica that serves the first browser, mid-stream. While it goes, and
  // for 10 s after it is gone (time for nginx to forget its address), a probe reads the
  // board through nginx every 100 ms beside the commands.
  const victim = (await replicaOf(0))!;
  timings.length = 0;
  const stoppedAt = Date.now();
  let probing = true;
  const probe = (async () => {
    while (probing) {
      await timed('GET state', () => api.get(`/api/boards/${board}`));
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const gone = stopReplica(victim).then(() => Date.now());

  for (let i = 0; i < 10; i++) {
    await send(board, { type: 'add_todo', title: `after the stop ${i}` });
  }
  await send(board, { type: 'start_sprint', id: sprint });
  const last = (await send(board, { type: 'complete_sprint', id: sprint })).seq;

  await expectConverged(api, board, pages, last);
  const convergedMs = Date.now() - stoppedAt;
  await expect(pages[0].locator('[data-board-seq]')).toHaveAttribute('data-conn', 'live');
  expect(await replicaOf(0)).not.toBe(victim);

  const goneAt = await gone;
  while (Date.now() < goneAt + 10_000) await new Promise((r) => setTimeout(r, 200));
  probing = false;
  await probe;

  const slowest = timings.reduce((a, b) => (b.ms > a.ms ? b : a));
  const failed = timings.filter((t) => t.status !== 200).length;
  console.log(
    `cluster: ${victim} stopped; all browsers converged ${convergedMs} ms later (12 commands in between); ` +
      `it was gone after ${goneAt - stoppedAt} ms; ${timings.length} requests through nginx over ` +
      `${Date.now() - stoppedAt} ms, slowest ${slowest.ms} ms (${slowest.what} → ${slowest.status}), ${failed} not 200`,
  );
  expect(slowest.ms, `slowest request while ${victim} went away: ${slowest.what}`).toBeLessThanOrEqual(SLOWEST_MS);
  // A GET is retried by nginx on the next replica: it never fails because one went away.
  expect(timings.filter((t) => t.what === 'GET state' && t.status !== 200)).toEqual([]);
});
