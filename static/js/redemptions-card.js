// Member card: shows the code for the current 30-second window with a countdown, holds the next
// codes it fetched (so it keeps working offline for a couple of minutes), refreshes when it can.
// The last codes it was given are kept on the phone (localStorage) and the page itself by the service
// worker, so the card opens with no network and says it is offline.
(function () {
  const root = document.getElementById("rc-card");
  const qr = document.getElementById("rc-qr");
  if (!root || !qr) return;
  const numeric = document.getElementById("rc-numeric");
  const countdown = document.getElementById("rc-countdown");
  const net = document.getElementById("rc-net");
  const labels = root.dataset;
  const KEPT = "redcard.card";
  let payload = JSON.parse(document.getElementById("rc-card-data").textContent);
  let offset = payload.server_time - Date.now(); // server clock minus ours
  let shown = null;
  let lastFetch = Date.now();
  let offline = !navigator.onLine;

  // A page served by the service worker holds the codes of its last fetch (and its clock then): what is kept
  // here is as new or newer, with the clock offset measured when it was fetched.
  let kept = null;
  try {
    kept = JSON.parse(localStorage.getItem(KEPT) || "null");
  } catch (error) {
    kept = null;
  }

  function keep(fresh) {
    try {
      localStorage.setItem(KEPT, JSON.stringify({ ...fresh, fetched_at: Date.now() }));
    } catch (error) {
      // storage full or disabled: the card still works while the page is open
    }
  }
  if (kept && kept.server_time >= payload.server_time && kept.codes) {
    payload = kept;
    offset = kept.server_time - kept.fetched_at;
  } else {
    keep(payload);
  }

  function now() {
    return Date.now() + offset;
  }

  function current() {
    const t = now();
    // The newest code whose window has begun and that has not expired.
    const live = payload.codes.filter((c) => c.shows_from <= t && t < c.expires_at);
    return live.length ? live[live.length - 1] : null;
  }

  function render() {
    const code = current();
    if (code && code.qr !== shown) {
      // Parsed as HTML so that the inline SVG (no xmlns) lands in the SVG namespace.
      const svg = new DOMParser().parseFromString(code.svg, "text/html").body.firstElementChild;
      qr.replaceChildren(document.importNode(svg, true));
      qr.dataset.code = code.qr;
      numeric.textContent = code.numeric.replace(/(\d{4})(?=\d)/g, "$1 ");
      shown = code.qr;
      qr.classList.remove("rc-stale");
    }
    if (!code) {
      qr.classList.add("rc-stale");
      countdown.textContent = labels.labelStale;
    } else {
      const seconds = Math.max(0, Math.ceil((code.rotates_at - now()) / 1000));
      countdown.textContent = labels.labelSeconds.replace("%(s)s", String(seconds));
    }
    net.textContent = offline ? labels.labelOffline : "";
    // Refresh well before the held codes run out, and every 20 s while online.
    const last = payload.codes[payload.codes.length - 1];
    const runningOut = !last || last.shows_from - now() < 60000;
    if ((runningOut || Date.now() - lastFetch > 20000) && !refresh.busy) refresh();
  }

  async function refresh() {
    refresh.busy = true;
    lastFetch = Date.now();
    try {
      const response = await fetch(labels.refreshUrl, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(String(response.status));
      const fresh = await response.json();
      payload = fresh;
      offset = fresh.server_time - Date.now();
      offline = false;
      keep(fresh);
      if (!fresh.entitled) window.location.reload();
    } catch (error) {
      offline = true;
    } finally {
      refresh.busy = false;
    }
  }

  render();
  setInterval(render, 500);
  window.addEventListener("online", refresh);
  window.addEventListener("offline", () => {
    offline = true;
  });
  if ("serviceWorker" in navigator && labels.swUrl) navigator.serviceWorker.register(labels.swUrl).catch(() => {});
})();
