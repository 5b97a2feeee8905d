{% load static %}// RedCard's service worker for /r/ (served by redemptions.counter.views.service_worker): the scanner and the
// member's card open with no network. Pages under /r/scan/ and /r/card/ are fetched from the network when it
// answers and kept; when it does not, the last copy is served (the card then shows its saved codes and says it
// is offline; the scanner verifies codes itself and queues what it accepts). Static files: cache first.
const CACHE = "redcard-r-{{ version }}";
const ASSETS = {{ assets|safe }};
const PAGES = /^\/r\/(scan\/[0-9a-f-]+\/|card\/)$/;

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE).then((cache) => Promise.all(ASSETS.map((url) => cache.add(url).catch(() => null))))
  );
  self.skipWaiting();
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((n) => n.startsWith("redcard-r-") && n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim())
      .then(() => keepOpenPages())
  );
});

// The page that installed the worker was loaded before it: keep it now, so that it opens offline next time.
async function keepOpenPages() {
  const cache = await caches.open(CACHE);
  const open = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  await Promise.all(
    open
      .map((client) => new URL(client.url))
      .filter((url) => url.origin === self.location.origin && PAGES.test(url.pathname))
      .map((url) => cache.add(url.href).catch(() => null))
  );
}

async function networkFirst(request) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok && !response.redirected) await cache.put(request.url, response.clone());
    return response;
  } catch (error) {
    const kept = await cache.match(request.url);
    if (kept) return kept;
    throw error;
  }
}

async function cacheFirst(request) {
  const cache = await caches.open(CACHE);
  const kept = await cache.match(request);
  if (kept) return kept;
  const response = await fetch(request);
  if (response.ok) await cache.put(request, response.clone());
  return response;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate" && PAGES.test(url.pathname)) {
    event.respondWith(networkFirst(request));
  } else if (url.pathname.startsWith("{% get_static_prefix %}")) {
    event.respondWith(cacheFirst(request));
  }
});
