// The scan page's service worker (scope /console/). It keeps the scan page and the files it loads, so
// an officer at a gate with no network still opens it; everything else of the console passes through
// untouched. The verifier's state (keys, bundle, revocations) is kept by the page itself (verify.js).
// The server fills in ASSETS with the page's versioned addresses: a new asset is a new worker.
const ASSETS = [];
const PAGE = "/console/scan";
const PATHS = new Set(ASSETS.map((address) => address.split("?")[0]));
const CACHE = "gmid-scan-" + ASSETS.join("|").length.toString(36) + "-" + hash(ASSETS.join("|"));

function hash(text) {
  let h = 5381;
  for (let i = 0; i < text.length; i++) h = ((h * 33) ^ text.charCodeAt(i)) >>> 0;
  return h.toString(36);
}

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    for (const url of ASSETS) {
      const response = await fetch(url, { credentials: "same-origin", headers: url === PAGE ? { Accept: "text/html" } : {} });
      // The page only when signed in (a redirect to the sign-in form is not the page).
      if (response.ok && !response.redirected) await cache.put(url, response);
    }
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith("gmid-scan-") && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.method === "POST" && url.pathname === "/console/logout") {
    // Signing out forgets the kept page (it carries the session's menu and CSRF token).
    event.waitUntil(caches.open(CACHE).then((cache) => cache.delete(PAGE)));
    return;
  }
  if (request.method !== "GET") return;
  if (url.pathname === PAGE && request.mode === "navigate") {
    event.respondWith(pageFirstFromNetwork(request));
  } else if (ASSETS.includes(url.pathname + url.search)) {
    event.respondWith(caches.match(url.pathname + url.search).then((kept) => kept || fetch(request)));
  } else if (PATHS.has(url.pathname)) {
    // A module imported by its plain address (./console.js): the network, else the kept version.
    event.respondWith(fetch(request).catch(async (err) => {
      const kept = await caches.open(CACHE).then((cache) => cache.match(request, { ignoreSearch: true }));
      if (kept) return kept;
      throw err;
    }));
  }
});

// The page from the network when there is one (kept for later), else the kept copy.
async function pageFirstFromNetwork(request) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok && !response.redirected && new URL(request.url).search === "") {
      await cache.put(PAGE, response.clone());
    }
    if (response.status >= 500) return (await cache.match(PAGE)) || response; // a gate's flaky uplink
    return response;
  } catch (err) {
    const kept = await cache.match(PAGE);
    if (kept) return kept;
    throw err;
  }
}
