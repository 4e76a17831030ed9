// The board's service worker: it keeps this build's app shell (the script, the wasm, the
// stylesheet) and the pages last seen, so that a page opened with no network at all still
// renders, from the browser's local copy of the board, and catches up once it can.
// Served by the server with this build's names filled in (server/src/shell/mod.rs): a new
// deployment is a new worker, whose caches replace the old ones whole, so a page never
// pairs one build's HTML with another's script.
const VERSION = '__VERSION__';
const SHELL = __SHELL__;
const SHELL_CACHE = `shell-${VERSION}`;
const PAGES_CACHE = `pages-${VERSION}`;
// Pages kept at most (the oldest go first): one per board visited.
const MAX_PAGES = 50;

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(SHELL_CACHE)
      .then((cache) => cache.addAll(SHELL))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      // Another build's caches: its pages name files this build does not have.
      for (const name of await caches.keys()) {
        if (name !== SHELL_CACHE && name !== PAGES_CACHE) await caches.delete(name);
      }
      await self.clients.claim();
      // The pages open now were loaded before this worker ran: keep them too.
      for (const client of await self.clients.matchAll({ type: 'window' })) {
        if (kept(new URL(client.url))) await remember(new Request(client.url)).catch(() => {});
      }
    })(),
  );
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (request.mode === 'navigate' && kept(url)) {
    event.respondWith(page(request));
  } else if (SHELL.includes(url.pathname)) {
    event.respondWith(caches.match(request, { cacheName: SHELL_CACHE }).then((hit) => hit || fetch(request)));
  }
  // Everything else (the API, the streams, the docs) goes to the network untouched.
});

/** Pages worth keeping: the board list and the boards. */
function kept(url) {
  return url.pathname === '/' || /^\/boards\/[^/]+$/.test(url.pathname);
}

/** A page from the network, kept for later; with no network, the page kept last. */
async function page(request) {
  try {
    return await remember(request);
  } catch (offline) {
    const hit = await (await caches.open(PAGES_CACHE)).match(place(request.url));
    if (hit) return hit;
    throw offline;
  }
}

/** Fetches a page and keeps a copy under its path (its pattern and transport, in the
 * query, do not change its board; a share link's redirect is not kept). */
async function remember(request) {
  const response = await fetch(request);
  if (response.ok && !response.redirected) {
    const pages = await caches.open(PAGES_CACHE);
    await pages.put(place(request.url), response.clone());
    const keys = await pages.keys();
    for (const old of keys.slice(0, Math.max(0, keys.length - MAX_PAGES))) await pages.delete(old);
  }
  return response;
}

function place(address) {
  const url = new URL(address);
  return url.origin + url.pathname;
}
