// Several replicas behind nginx, with board affinity on (nginx hashes the board id to a
// replica) and off (round-robin). Browsers converge when the replica serving one of them
// goes away mid-stream, and no request through nginx takes more than 2 s while it happens.
// With affinity on, every browser of a board shares one replica and moves when it goes
// (the remap); nginx's cache answers repeated pulls of an immutable snapshot.
//
// Two topologies run this same file:
// - by default, scripts/cluster: Postgres, Redis, three replicas of the debug server and
//   the nginx configuration docker-compose uses, started once per affinity; the victim is
//   killed with SIGKILL. E2E_CLUSTER_BUS=nats or postgres puts that bus between the
//   replicas instead of Redis (scripts/cluster --bus).
// - with E2E_CLUSTER_URL set (scripts/compose-check): a cluster that is already running,
//   such as `docker compose`, with the affinity its nginx was started with (compose-check
//   runs `-g "affinity on"`, restarts nginx with AFFINITY=none, then `-g "affinity off"`);
//   E2E_CLUSTER_STOP is a shell command that stops the replica whose id is in $REPLICA
//   (compose-check: `docker stop`, as a user would), E2E_CLUSTER_START one that starts it
//   again (`docker start`).
import { test, expect, request as playwrightRequest, APIRequestContext, APIResponse, Browser, Page } from '@playwright/test';
import { spawn, ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { createBoard, createOwnedBoard, expectConverged, open } from './helpers';

const root = path.resolve(__dirname, '..', '..');
const target = process.env.CARGO_TARGET_DIR ? path.resolve(root, process.env.CARGO_TARGET_DIR) : path.join(root, 'target');
const external = process.env.E2E_CLUSTER_URL;
/** The longest a request through nginx may take while a replica goes away. */
const SLOWEST_MS = 2000;

type Affinity = 'board' | 'none';

/** A cluster for the tests of one describe block: started here, or the external one. */
class Cluster {
  base: string;
  api!: APIRequestContext;
  private process?: ChildProcess;
  /** Replicas started again by the test: not the script's children, so stopped here. */
  private restarted: ChildProcess[] = [];
  private dir = fs.mkdtempSync(path.join(os.tmpdir(), 'board-e2e-cluster-'));

  /** The same cluster through nginx's TLS listener (HTTP/2). */
  tlsBase: string;

  constructor(private affinity: Affinity, private port: number) {
    this.base = external ?? `http://127.0.0.1:${port}`;
    this.tlsBase = (external ? process.env.E2E_CLUSTER_TLS_URL : undefined) ?? `https://localhost:${port + 1}`;
  }

  async start() {
    if (!external) {
      this.process = spawn('bash', ['scripts/cluster', '3'], {
        cwd: root,
        detached: true,
        stdio: ['ignore', 'inherit', 'inherit'],
        env: {
          ...process.env,
          SERVER_BIN: path.join(target, 'debug', 'server'),
          LEPTOS_SITE_ROOT: path.join(target, 'site'),
          CLUSTER_PORT: String(this.port),
          CLUSTER_TLS_PORT: String(this.port + 1),
          CLUSTER_BASE_PORT: String(this.port + 10),
          CLUSTER_DIR: this.dir,
          AFFINITY: this.affinity,
          BUS: process.env.E2E_CLUSTER_BUS ?? 'redis',
          DATABASE_URL: `postgres://postgres@127.0.0.1:5432/board_e2e_cluster_${Date.now()}`,
          RUST_LOG: 'warn',
        },
      });
    }
    this.api = await playwrightRequest.newContext({ baseURL: this.base });
    for (let i = 0; i < 200; i++) {
      try {
        if ((await this.api.get('/readyz')).ok()) return;
      } catch {}
      await new Promise((r) => setTimeout(r, 300));
    }
    throw new Error('the cluster did not become ready');
  }

  async stop() {
    if (this.process?.pid) process.kill(-this.process.pid, 'SIGTERM');
    for (const replica of this.restarted) replica.kill('SIGTERM');
    await this.api?.dispose();
  }

  /** The operator's console token: scripts/cluster keeps the one it made; an external
   * cluster's comes in E2E_ADMIN_TOKEN. */
  adminToken(): string {
    if (external) {
      const token = process.env.E2E_ADMIN_TOKEN;
      if (!token) throw new Error('E2E_CLUSTER_URL needs E2E_ADMIN_TOKEN, the cluster\'s ADMIN_TOKEN');
      return token;
    }
    return fs.readFileSync(path.join(this.dir, 'admin-token'), 'utf8').trim();
  }

  /** Starts a replica that was taken away, as it was (same id, same address). */
  startReplica(replica: string): Promise<void> {
    if (!external) {
      // scripts/cluster keeps each replica's start command (it `exec`s the server).
      const started = spawn('bash', [path.join(this.dir, `${replica}.start`)], { cwd: root, stdio: 'ignore' });
      this.restarted.push(started);
      return Promise.resolve();
    }
    return this.shell('E2E_CLUSTER_START', replica);
  }

  /** Takes the replica away; resolves when it is gone (its process or container ended). */
  stopReplica(replica: string): Promise<void> {
    if (!external) {
      const pid = Number(fs.readFileSync(path.join(this.dir, `${replica}.pid`), 'utf8'));
      process.kill(pid, 'SIGKILL');
      return Promise.resolve();
    }
    return this.shell('E2E_CLUSTER_STOP', replica);
  }

  /** Runs the external cluster's command named by `variable` for `replica`. */
  private shell(variable: string, replica: string): Promise<void> {
    const command = process.env[variable];
    if (!command) throw new Error(`E2E_CLUSTER_URL needs ${variable}, a command for the replica in $REPLICA`);
    return new Promise((resolve, reject) => {
      const run = spawn('sh', ['-c', command], { stdio: 'inherit', env: { ...process.env, REPLICA: replica } });
      run.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${variable} exited ${code}`))));
    });
  }
}

test.describe.configure({ mode: 'serial' });

/** Every request the test sends through nginx, timed. */
const timings: { what: string; ms: number; status: number }[] = [];

/**
 * Sends a request through nginx and times it. A kept-alive connection that nginx closes just
 * as a request goes out on it (nginx reloads its list of replicas when one leaves, and its
 * old worker closes idle connections) fails before any answer; a browser then sends the
 * request again on a new connection, once, and so does this, within the same timing.
 */
async function timed(what: string, call: () => Promise<APIResponse>): Promise<APIResponse> {
  const started = Date.now();
  let status = 0;
  try {
    let res: APIResponse;
    try {
      res = await call();
    } catch (err) {
      if (!/ECONNRESET|socket hang up/.test(String(err))) throw err;
      res = await call();
    }
    status = res.status();
    return res;
  } finally {
    timings.push({ what, ms: Date.now() - started, status });
  }
}

/**
 * A command through nginx, retried with its Idempotency-Key while a replica is down, as the
 * page's engine does (a retry after a broken connection is `timed`'s).
 */
async function send(api: APIRequestContext, board: string, body: object) {
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

/** The pages' setups: a delta pattern, a self-contained one, each streaming transport. */
const SETUPS: [string, string][] = [
  ['event-diff', 'sse'],
  ['push-ops', 'ws'],
  ['poke-pull', 'long-poll'],
  ['push-events', 'sse'],
];

/**
 * Opens the pages of one board, takes away the replica serving the first, keeps writing,
 * and checks that every page converges and no request through nginx stalls. `spread`:
 * pages are opened until they are on more than one replica (round-robin); otherwise
 * (affinity) every page must be on the same one, and after the stop on the same other one.
 */
async function survivesAReplicaGoing(cluster: Cluster, browser: Browser, spread: boolean) {
  const api = cluster.api;
  const board = await createBoard(api, 'Cluster');
  const pages = [];
  const replicaOf = (i: number) => pages[i].locator('.board-foot .replica').textContent();
  const replicas = new Set<string>();
  // Round-robin: a page makes several requests before it opens its stream, so which
  // replica a stream lands on depends on how many: open pages until they are spread over
  // more than one (at most eight), with one more request between pages when they are
  // not, to shift the rotation.
  while (pages.length < SETUPS.length || (spread && replicas.size < 2 && pages.length < 8)) {
    if (pages.length >= SETUPS.length) await api.get('/healthz');
    const [pattern, transport] = SETUPS[pages.length % SETUPS.length];
    pages.push(await open(await browser.newContext({ baseURL: cluster.base }), board, pattern, transport));
    replicas.add((await replicaOf(pages.length - 1))!);
  }
  if (spread) {
    expect(replicas.size, `browsers spread over replicas: ${[...replicas]}`).toBeGreaterThan(1);
  } else {
    expect([...replicas], 'with affinity, every browser of the board on one replica').toHaveLength(1);
  }

  const sprint = (await send(api, board, { type: 'add_sprint', name: 'S' })).id;
  await send(api, board, { type: 'add_todo', title: 'before the stop', sprint_id: sprint });

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
  const gone = cluster.stopReplica(victim).then(() => Date.now());

  for (let i = 0; i < 10; i++) {
    await send(api, board, { type: 'add_todo', title: `after the stop ${i}` });
  }
  await send(api, board, { type: 'start_sprint', id: sprint });
  const last = (await send(api, board, { type: 'complete_sprint', id: sprint })).seq;

  await expectConverged(api, board, pages, last);
  const convergedMs = Date.now() - stoppedAt;
  for (const page of pages) await expect(page.locator('[data-board-seq]')).toHaveAttribute('data-conn', 'live');
  expect(await replicaOf(0)).not.toBe(victim);
  // Where the streaming browsers are now (a page names the replica its stream's `hello`
  // came from; poll and long-poll pages have no `hello`, so theirs is not checked).
  const streaming = pages.filter((_, i) => ['sse', 'ws'].includes(SETUPS[i % SETUPS.length][1]));
  const after = await Promise.all(streaming.map((page) => page.locator('.board-foot .replica').textContent()));
  expect(after, `no streaming browser on ${victim} any more`).not.toContain(victim);
  if (!spread) {
    // The remap: the board's point on the ring now leads to one survivor, for all of them.
    expect([...new Set(after)], 'after the remap, the board on one other replica').toHaveLength(1);
  }

  const goneAt = await gone;
  while (Date.now() < goneAt + 10_000) await new Promise((r) => setTimeout(r, 200));
  probing = false;
  await probe;

  const slowest = timings.reduce((a, b) => (b.ms > a.ms ? b : a));
  const failed = timings.filter((t) => t.status !== 200).length;
  console.log(
    `cluster (affinity ${spread ? 'off' : 'on'}): ${victim} stopped; all browsers converged ${convergedMs} ms later ` +
      `on ${[...new Set(after)].join(', ')} ` +
      `(12 commands in between); it was gone after ${goneAt - stoppedAt} ms; ${timings.length} requests through nginx over ` +
      `${Date.now() - stoppedAt} ms, slowest ${slowest.ms} ms (${slowest.what} → ${slowest.status}), ${failed} not 200`,
  );
  expect(slowest.ms, `slowest request while ${victim} went away: ${slowest.what}`).toBeLessThanOrEqual(SLOWEST_MS);
  // A GET is retried by nginx on the next replica: it never fails because one went away.
  expect(timings.filter((t) => t.what === 'GET state' && t.status !== 200)).toEqual([]);
  if (!spread) await comesBack(cluster, browser, board, pages, victim, after[0]!);
}

/**
 * The remap back, when a replica joins: the stopped one starts again with its old address,
 * so ketama gives it back its old points and nginx sends the board's new requests to it,
 * while the browsers' open streams stay on the survivor. The board is then served by two
 * replicas at once (routing is an optimisation only), and every browser still converges,
 * one opened after the return (on the returned replica) included.
 */
async function comesBack(cluster: Cluster, browser: Browser, board: string, pages: Page[], victim: string, survivor: string) {
  const api = cluster.api;
  const startedAt = Date.now();
  await cluster.startReplica(victim);
  // nginx tries a failed replica again after `fail_timeout` (5 s); compose's nginx also
  // waits for the container's address to resolve again.
  for (;;) {
    const owner = (await api.get(`/api/boards/${board}`)).headers()['x-replica'];
    if (owner === victim) break;
    expect(Date.now() - startedAt, `the board's requests went back to ${victim} (still ${owner})`).toBeLessThan(30_000);
    await new Promise((r) => setTimeout(r, 250));
  }
  const backMs = Date.now() - startedAt;
  const joined = await open(await browser.newContext({ baseURL: cluster.base }), board, 'push-ops', 'ws');
  await expect(joined.locator('.board-foot .replica')).toHaveText(victim);
  const streaming = pages.filter((_, i) => ['sse', 'ws'].includes(SETUPS[i % SETUPS.length][1]));
  for (const page of streaming) await expect(page.locator('.board-foot .replica')).toHaveText(survivor);
  let last = 0;
  for (let i = 0; i < 5; i++) last = (await send(api, board, { type: 'add_todo', title: `after the return ${i}` })).seq;
  await expectConverged(api, board, [...pages, joined], last);
  console.log(
    `cluster (affinity on): ${victim} started again; the board's requests reached it ${backMs} ms later, ` +
      `its old browsers stayed on ${survivor}, and all converged ${Date.now() - startedAt} ms after the start`,
  );
}

test.describe('affinity on', () => {
  const cluster = new Cluster('board', Number(process.env.E2E_CLUSTER_PORT ?? 8091));
  test.beforeAll(() => cluster.start());
  test.afterAll(() => cluster.stop());

  test('requests about no board go round-robin; a board\'s requests all reach one replica', async () => {
    const api = cluster.api;
    const seen = new Set<string>();
    for (let i = 0; i < 12; i++) seen.add((await api.get('/healthz')).headers()['x-replica']);
    expect(seen.size, `replicas answering /healthz: ${[...seen]}`).toBeGreaterThan(1);
    const board = await createBoard(api, 'Affinity');
    const answers: string[] = [];
    for (const path of ['', '/access', '/changes?since=0', '/snapshots/0', '/poll?pattern=push-ops&since=0']) {
      const r = await api.get(`/api/boards/${board}${path}`);
      answers.push(`${path || 'state'}: ${r.status()} from ${r.headers()['x-replica']}`);
    }
    const page = await api.get(`/boards/${board}`);
    answers.push(`page: ${page.status()} from ${page.headers()['x-replica']}`);
    const owners = new Set(answers.map((a) => a.split(' from ')[1]));
    expect([...owners], `one replica for everything about the board: ${answers.join('; ')}`).toHaveLength(1);
    expect(owners.has('undefined'), answers.join('; ')).toBe(false);
  });

  test('nginx answers repeated pulls of a snapshot from its cache, never a private board\'s', async () => {
    const api = cluster.api;
    const board = await createBoard(api, 'Cached');
    const { seq } = await send(api, board, { type: 'add_todo', title: 'cached' });
    const url = `/api/boards/${board}/snapshots/${seq}`;
    // Twenty pulls at once, as after a poke: one reaches a replica, the others wait for it.
    const answers = await Promise.all(Array.from({ length: 20 }, () => api.get(url)));
    const statuses = answers.map((r) => `${r.status()} ${r.headers()['x-cache-status']}`);
    expect(statuses.filter((s) => s === '200 MISS'), statuses.join(', ')).toHaveLength(1);
    expect(statuses.filter((s) => s === '200 HIT'), statuses.join(', ')).toHaveLength(19);
    expect((await api.get(url)).headers()['x-cache-status']).toBe('HIT');
    expect((await answers[0].json()).todos.map((t: { title: string }) => t.title)).toEqual(['cached']);
    // A refusal is not kept: the seq beyond the head is 404 until it exists, then 200.
    const next = `/api/boards/${board}/snapshots/${seq + 1}`;
    expect((await api.get(next)).status()).toBe(404);
    await send(api, board, { type: 'add_todo', title: 'next' });
    expect((await api.get(next)).status()).toBe(200);

    const created = await (await api.post('/api/boards', { data: { name: 'Secret' } })).json();
    const secret = `/api/boards/${created.id}/snapshots/0`;
    const headers = { Authorization: `Bearer ${created.keys.read}` };
    for (let i = 0; i < 3; i++) {
      const r = await api.get(secret, { headers });
      expect(r.status()).toBe(200);
      expect(r.headers()['x-cache-status'], 'a private board is never answered from the cache').not.toBe('HIT');
    }
    expect((await api.get(secret)).status(), 'without its key').toBe(404);
  });

  test('the page\'s fault lab reaches the board\'s replica: notices it loses are repaired, every browser converges', async ({
    browser,
  }) => {
    const api = cluster.api;
    // The board's faults are its owner's: the page holds its write key.
    const { id: board, write } = await createOwnedBoard(api, 'Lab');
    const page = await open(await browser.newContext({ baseURL: cluster.base }), board, 'push-ops', 'sse', write);
    const other = await open(await browser.newContext({ baseURL: cluster.base }), board, 'event-diff', 'ws');
    const owner = (await api.get(`/api/boards/${board}`)).headers()['x-replica'];
    await expect(page.locator('.board-foot .replica')).toHaveText(owner);

    // The cluster's replicas run with FAULTS=1: the panel shows the replica's faults, and
    // names the replica its requests reach, the board's; the board's owner may lose its notices.
    await page.locator('details[data-lab] summary').first().click();
    const server = page.locator('[data-lab-server]');
    await expect(server).toContainText(`these act on ${owner}`);
    await page.locator('[data-lab-input="drop-notices"]').fill('2');
    await page.locator('[data-lab-action="drop-notices"]').click();
    await expect(server).toContainText('2 notice(s) to lose');

    let last = 0;
    for (const title of ['one', 'two', 'three']) {
      last = (await send(api, board, { type: 'add_todo', title })).seq;
    }
    await expectConverged(api, board, [page, other], last);
    const lab = await (await api.get(`/api/lab?board=${board}`)).json();
    expect([lab.replica, lab.drop_notices]).toEqual([owner, 0]);
  });

  test('through nginx over HTTP/2, eight tabs of one browser on SSE each stream on one connection and converge', async ({
    browser,
  }) => {
    test.setTimeout(180_000);
    const context = await browser.newContext({ baseURL: cluster.tlsBase, ignoreHTTPSErrors: true });
    const board = await createBoard(context.request, 'Tabs over HTTP/2');
    const pages: Page[] = [];
    // Eight: over HTTP/1.1 the seventh would wait behind six streams (or, since
    // link::shared, follow another tab); over HTTP/2 none needs to.
    for (let i = 0; i < 8; i++) pages.push(await open(context, board, 'push-ops', 'sse'));
    const protocol = await pages[7].evaluate(
      () => (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming).nextHopProtocol,
    );
    expect(protocol).toBe('h2');
    const streams = await Promise.all(pages.map((p) => p.locator('[data-board-seq]').getAttribute('data-stream')));
    expect(streams).toEqual(Array(8).fill('own'));
    const added = await context.request.post(`/api/boards/${board}/commands`, {
      data: { type: 'add_todo', title: 'through nginx over HTTP/2' },
    });
    expect(added.status()).toBe(200);
    await expectConverged(context.request, board, pages, (await added.json()).seq);
    await context.close();
  });

  test('a board\'s browsers share one replica; when it goes away they move and converge', async ({
    browser,
  }) => {
    test.setTimeout(120_000);
    await survivesAReplicaGoing(cluster, browser, false);
  });
});

test.describe('affinity off', () => {
  const cluster = new Cluster('none', Number(process.env.E2E_CLUSTER_PORT ?? 8091) + 40);
  test.beforeAll(() => cluster.start());
  test.afterAll(() => cluster.stop());

  test('browsers on different replicas converge when one replica goes away, and no request stalls', async ({
    browser,
  }) => {
    test.setTimeout(120_000);
    await survivesAReplicaGoing(cluster, browser, true);
  });
});

// The operator's console on a cluster: signed in through its form, it lists every replica
// (their reports over the bus) and a tab's stream by the tab's presence id; disconnecting
// that stream from the console makes the tab reconnect (its stream is listed again, under a
// new connection id) and it keeps converging.
test.describe("the operator's console", () => {
  const cluster = new Cluster('none', Number(process.env.E2E_CLUSTER_PORT ?? 8091) + 80);
  test.beforeAll(() => cluster.start());
  test.afterAll(() => cluster.stop());

  test('lists every replica and a tab, and a tab disconnected from it reconnects', async ({ browser }) => {
    const operator = await browser.newContext({ baseURL: cluster.base, viewport: { width: 390, height: 844 } });
    const desk = await operator.newPage();
    await desk.goto('/admin');
    await desk.locator('input[name="token"]').fill(cluster.adminToken());
    await desk.locator('[data-admin-sign-in] button[type="submit"]').click();
    await expect(desk.locator('[data-admin-live]')).toHaveAttribute('data-admin-live', 'live', { timeout: 20_000 });
    // Three replicas behind nginx; the console is served by one and hears the others.
    await expect(desk.locator('[data-admin-replica]')).toHaveCount(3, { timeout: 15_000 });
    // Usable on a phone: nothing wider than the screen but the tables' own scrollers.
    const wide = await desk.evaluate(() => document.documentElement.scrollWidth);
    expect(wide, 'the page fits a 390 px screen').toBeLessThanOrEqual(390);

    const board = await createBoard(cluster.api, 'watched by the operator');
    const tab = await open(await browser.newContext({ baseURL: cluster.base }), board, 'push-ops', 'sse');
    const client = await tab.locator('[data-board-seq]').getAttribute('data-client');
    expect(client).toBeTruthy();
    const row = desk.locator(`[data-admin-client="${client}"]`);
    await expect(row).toHaveCount(1, { timeout: 15_000 });
    const before = await row.getAttribute('data-admin-connection');
    const replica = await row.locator('xpath=ancestor::*[@data-admin-replica]').getAttribute('data-admin-replica');

    await row.locator('[data-admin-disconnect]').click();
    await expect(desk.locator('[data-admin-message]')).toContainText('Disconnected');
    // The tab comes back: its stream is listed again, as a new connection.
    await expect
      .poll(
        async () => {
          const rows = desk.locator(`[data-admin-client="${client}"]`);
          if ((await rows.count()) !== 1) return 'not listed';
          const now = await rows.getAttribute('data-admin-connection');
          const on = await rows.locator('xpath=ancestor::*[@data-admin-replica]').getAttribute('data-admin-replica');
          return now !== before || on !== replica ? 'reconnected' : 'the old stream';
        },
        { timeout: 20_000 },
      )
      .toBe('reconnected');
    await expect(tab.locator('[data-board-seq]')).toHaveAttribute('data-conn', 'live', { timeout: 15_000 });
    const added = await cluster.api.post(`/api/boards/${board}/commands`, {
      data: { type: 'add_todo', title: 'after the disconnect' },
    });
    expect(added.status()).toBe(200);
    await expect(tab.locator('[data-todo-id]')).toHaveCount(1);
    await operator.close();
  });
});
