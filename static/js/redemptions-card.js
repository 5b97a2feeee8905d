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
      if (code.code_id) shownIds.add(code.code_id);
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

  // --- the member sees it happen: the code shown is used -> "redeemed · saved ¥x", the meter moves ---------

  const shownIds = new Set();
  const flipped = new Set();
  const yuan = (fen) => (fen / 100).toFixed(2);

  function meter(savings, paidBack) {
    const figure = document.getElementById("rc-meter-figure");
    const bar = document.getElementById("rc-meter-bar");
    if (figure && labels.labelMeter) {
      figure.textContent = labels.labelMeter.replace("%(saved)s", yuan(savings.saved_fen)).replace("%(fee)s", yuan(savings.fee_fen));
    }
    if (bar) {
      bar.max = savings.fee_fen || 1;
      bar.value = savings.saved_fen;
    }
    const badge = document.getElementById("rc-paid-back");
    if (badge) badge.classList.toggle("hidden", !paidBack);
  }

  function flip(last, paidBack) {
    flipped.add(last.code_id);
    document.getElementById("rc-done-title").textContent = labels.labelRedeemed.replace("%(s)s", yuan(last.discount_fen));
    document.getElementById("rc-done-shop").textContent = last.merchant_name;
    document.getElementById("rc-done-paid-back").classList.toggle("hidden", !paidBack);
    document.getElementById("rc-done").classList.remove("hidden");
    root.classList.add("rc-card-done");
  }

  document.getElementById("rc-done-next").addEventListener("click", () => {
    document.getElementById("rc-done").classList.add("hidden");
    root.classList.remove("rc-card-done");
  });

  async function poll() {
    if (document.visibilityState === "visible" && !offline && shownIds.size) {
      try {
        const response = await fetch(labels.statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } });
        if (response.ok) {
          const status = await response.json();
          meter(status.savings, status.paid_back);
          const last = status.last;
          if (last && last.status === "confirmed" && shownIds.has(last.code_id) && !flipped.has(last.code_id)) {
            flip(last, status.paid_back);
          }
        }
      } catch (error) {
        // offline: the refresh notices and says so
      }
    }
    setTimeout(poll, 2000);
  }

  render();
  setInterval(render, 500);
  poll();
  window.addEventListener("online", refresh);
  window.addEventListener("offline", () => {
    offline = true;
  });
  if ("serviceWorker" in navigator && labels.swUrl) navigator.serviceWorker.register(labels.swUrl).catch(() => {});
})();
