// What the browser benchmarks share: the server they start (the release build on a fresh
// SQLite database, loopback only), Debian's Chromium, and how figures are summarised.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from '@playwright/test';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const target = path.resolve(root, process.env.CARGO_TARGET_DIR ?? 'target');

/** The process's user + system CPU time in ms (fields 14 and 15 of /proc/<pid>/stat, in ticks). */
export function cpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) is in parentheses and may hold spaces: count after it.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks * (1000 / 100); // USER_HZ is 100 on Linux
}

/** Starts `o.server` on 127.0.0.1:`o.port` serving `o.site`, with `env` on top; waits until
 * it is ready (30 s at most). */
export async function startServer(o, env = {}) {
  const data = mkdtempSync(path.join(tmpdir(), 'board-bench-'));
  const server = spawn(o.server, [], {
    cwd: root,
    env: {
      ...process.env,
      DATABASE_URL: `sqlite://${data}/bench.db`,
      BIND: `127.0.0.1:${o.port}`,
      LEPTOS_SITE_ROOT: o.site,
      REPLICA_ID: 'bench',
      RUST_LOG: 'warn',
      METRICS_BIND: 'off',
      MAX_STREAMS_PER_IP: '2000',
      MAX_TABS_PER_IP: '2000',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const base = `http://127.0.0.1:${o.port}`;
  for (let i = 0; i < 300; i++) {
    if (server.exitCode !== null) throw new Error(`the server exited (${server.exitCode})`);
    try {
      if ((await fetch(`${base}/readyz`)).ok) return { server, base, data };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  server.kill();
  throw new Error('the server did not become ready in 30 s');
}

/** Stops what `startServer` started and removes its database. */
export async function stopServer({ server, data }) {
  server.kill('SIGTERM');
  // It drains open requests first (its streams end at once); bounded all the same.
  const killer = setTimeout(() => server.kill('SIGKILL'), 10_000);
  await new Promise((r) => (server.exitCode !== null ? r() : server.once('exit', r)));
  clearTimeout(killer);
  rmSync(data, { recursive: true, force: true });
}

/** Debian's Chromium, resolving no host but loopback. */
export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // Loopback only: any other host name fails to resolve.
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
    ],
  });
}

export const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return {
    mean: s.reduce((a, b) => a + b, 0) / s.length,
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    min: s[0],
    max: s[s.length - 1],
  };
};
export const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
export const ms = (n) => `${n.toFixed(0)} ms`;

/** `POST`s `command` to `board` as the actor `bench`; its answer, or an error. */
export async function post(base, board, command) {
  const r = await fetch(`${base}/api/boards/${board}/commands`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'board-actor': 'bench' },
    body: JSON.stringify(command),
  });
  if (r.status !== 200) throw new Error(`${JSON.stringify(command)} answered ${r.status}: ${await r.text()}`);
  return r.json();
}

/** A new public board named `name` with `todos` todos (8 commands at a time); its id.
 * `checkDeadline` is called between batches. */
export async function boardOfTodos(base, name, todos, checkDeadline) {
  const created = await fetch(`${base}/api/boards`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name, visibility: 'public' }),
  });
  const board = (await created.json()).id;
  for (let i = 0; i < todos; i += 8) {
    checkDeadline();
    const batch = [];
    for (let k = i; k < Math.min(todos, i + 8); k++) {
      batch.push(post(base, board, { type: 'add_todo', title: `todo number ${k} of the ${name}` }));
    }
    await Promise.all(batch);
  }
  return board;
}

/** `--name value` pairs over `defaults` (numbers stay numbers; `--server` and `--site` are
 * paths), with the release server and the built site as the defaults' binary and site.
 * Throws `usage` on an unknown name or a missing value. */
export function parseOptions(argv, defaults, usage) {
  const o = { server: path.join(target, 'release', 'server'), site: path.join(target, 'site'), ...defaults };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    const name = flag?.startsWith('--') ? flag.slice(2) : undefined;
    if (value === undefined || name === undefined || !(name in o)) throw new Error(usage);
    o[name] = typeof o[name] === 'number' ? Number(value) : path.resolve(value);
  }
  return o;
}

/** Is `v` an integer from `lo` to `hi`? */
export const within = (v, lo, hi) => Number.isInteger(v) && v >= lo && v <= hi;

/** A check that throws once `minutes` have passed since it was made. */
export function deadline(minutes) {
  const started = Date.now();
  return () => {
    if (Date.now() - started > minutes * 60_000) throw new Error(`deadline: ${minutes} minutes`);
  };
}
