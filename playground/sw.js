// Offline use: a service worker that answers from the network when it can, and from
// its cache when the network is gone. The page hands it every file it loaded (main.js,
// once it is ready), so one visit online is enough to work offline afterwards; files
// fetched later (a download's package.json) join the cache as they pass.
const CACHE = 'duroxide-playground';

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('message', (event) => {
  const urls = (Array.isArray(event.data?.cache) ? event.data.cache : [])
    .map((url) => new URL(url, self.location.href))
    .filter((url) => url.origin === self.location.origin)
    .map((url) => { url.hash = ''; return url.href; });
  event.waitUntil(caches.open(CACHE)
    .then((cache) => cache.addAll([...new Set(urls)]))
    .then(() => event.source?.postMessage({ cached: urls.length }), (error) => event.source?.postMessage({ error: String(error) })));
});

self.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET' || new URL(request.url).origin !== self.location.origin) return;
  event.respondWith(fetch(request).then((response) => {
    if (response.ok) {
      const copy = response.clone();
      caches.open(CACHE).then((cache) => cache.put(request, copy));
    }
    return response;
  }).catch(() => caches.match(request, { ignoreSearch: true }).then((hit) => hit ?? Response.error())));
});
