// Playwright drives Debian's Chromium (/usr/bin/chromium): nothing is downloaded.
// The server under test is the debug binary that `scripts/test` builds, on its own port
// with a fresh SQLite database; set E2E_BASE_URL to test a server you started yourself.
import { defineConfig } from '@playwright/test';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const root = path.resolve(__dirname, '..');
const target = process.env.CARGO_TARGET_DIR ? path.resolve(root, process.env.CARGO_TARGET_DIR) : path.join(root, 'target');
const port = Number(process.env.E2E_PORT ?? 3100);
const otlpPort = Number(process.env.E2E_OTLP_PORT ?? 3198);
const external = process.env.E2E_BASE_URL;
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'board-e2e-'));
// A second server speaks TLS itself (HTTP/2 by ALPN) with a certificate made here for
// `localhost`: tabs.spec.ts opens many tabs over it. Its own port and database.
const tlsPort = Number(process.env.E2E_TLS_PORT ?? 3143);
const tlsCert = path.join(dataDir, 'localhost.pem');
const tlsKey = path.join(dataDir, 'localhost-key.pem');
if (!external) {
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost',
    '-keyout', tlsKey, '-out', tlsCert,
  ], { stdio: 'ignore' });
}

export default defineConfig({
  testDir: './tests',
  // Two cores: one browser at a time keeps timings honest.
  workers: 1,
  retries: 0,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  reporter: [['list']],
  use: {
    baseURL: external ?? `http://127.0.0.1:${port}`,
    launchOptions: {
      executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        // WebRTC on loopback: plain host candidates instead of mDNS names, which this
        // machine cannot resolve.
        '--disable-features=WebRtcHideLocalIpsWithMdns',
      ],
    },
    trace: 'retain-on-failure',
  },
  webServer: external
    ? undefined
    : [
        {
          // The server exports its spans here (support/otlp-receiver.mjs): tracing.spec.ts
          // asks what arrived.
          command: `node ${path.join(__dirname, 'support', 'otlp-receiver.mjs')}`,
          url: `http://127.0.0.1:${otlpPort}/healthz`,
          reuseExistingServer: false,
          timeout: 10_000,
          stdout: 'ignore',
          stderr: 'pipe',
          env: { E2E_OTLP_PORT: String(otlpPort) },
        },
        {
          command: path.join(target, 'debug', 'server'),
          cwd: root,
          url: `http://127.0.0.1:${port}/readyz`,
          reuseExistingServer: false,
          timeout: 60_000,
          stdout: 'ignore',
          stderr: 'pipe',
          env: {
            DATABASE_URL: `sqlite://${dataDir}/e2e.db`,
            BIND: `127.0.0.1:${port}`,
            LEPTOS_SITE_ROOT: path.join(target, 'site'),
            REPLICA_ID: 'e2e',
            // E2E_RUST_LOG=debug shows the server's own account of a failing run.
            RUST_LOG: process.env.E2E_RUST_LOG ?? 'warn',
            // Every browser of the suite comes from 127.0.0.1, and contexts live until the
            // suite ends: one address holds more streams than a person would.
            MAX_STREAMS_PER_IP: '2000',
            MAX_TABS_PER_IP: '2000',
            METRICS_BIND: 'off',
            // webhooks.spec.ts runs its receiver on this loopback port.
            WEBHOOK_ALLOW: `127.0.0.1:${process.env.E2E_HOOK_PORT ?? 3199}`,
            // Spans go to the receiver above, as JSON; only traced tabs' changes are traced
            // (no sampling of everyone's, which would put trace ids in every test's frames).
            OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${otlpPort}`,
            OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
            TRACE_SAMPLE: '0',
          },
        },
        {
          command: path.join(target, 'debug', 'server'),
          cwd: root,
          url: `https://localhost:${tlsPort}/readyz`,
          ignoreHTTPSErrors: true,
          reuseExistingServer: false,
          timeout: 60_000,
          stdout: 'ignore',
          stderr: 'pipe',
          env: {
            DATABASE_URL: `sqlite://${dataDir}/e2e-tls.db`,
            BIND: `127.0.0.1:${tlsPort}`,
            TLS_CERT: tlsCert,
            TLS_KEY: tlsKey,
            LEPTOS_SITE_ROOT: path.join(target, 'site'),
            REPLICA_ID: 'e2e-tls',
            RUST_LOG: process.env.E2E_RUST_LOG ?? 'warn',
            MAX_STREAMS_PER_IP: '2000',
            MAX_TABS_PER_IP: '2000',
            METRICS_BIND: 'off',
          },
        },
      ],
});
