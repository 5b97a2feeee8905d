// Staff scanner: camera at once, native BarcodeDetector or the vendored ZXing polyfill (loaded only
// when needed, wasm served from /static/). A scanned code is checked in the page (Ed25519 signature with
// the shop's cached public keys, window, the card's end, who: all signed into the code), the member and
// the offer show at once, the discount follows the bill as it is typed, and ONE confirm request redeems.
// A typed code (or a browser without Ed25519 in WebCrypto) is looked up first (prepare), then confirmed.
// Full-screen green/red, today's list with void, incoming tap claims polled every 2 s, the shop's state
// (paused, full, offer, keys) refreshed every 30 s.
// When the confirm cannot reach the server, a code the page verified itself is accepted offline (if the shop
// allows it and the queue has room): kept in IndexedDB, an amber screen with the amount to charge, synced
// when the network returns (redemptions-offline.js; the page itself opens offline through the service worker).
import { isLive, isNumeric, parseCode, verifySignature, canVerify } from "./redemptions-codes.js";
import { makeDetector as detectorFor } from "./redemptions-camera.js";
import { enqueue, forget, newId, queued } from "./redemptions-offline.js";

const root = document.getElementById("rc-scanner");
const data = root.dataset;
const $ = (id) => document.getElementById(id);
const video = $("rc-video");
const status = $("rc-scan-status");
const entry = $("rc-entry");
const go = $("rc-go");

let state = JSON.parse($("rc-state").textContent);
let offset = 0; // server clock minus ours
let keys = {};
let rate = 0;
let cap = null;
let minBill = null;
let localVerify = false;
let mode = "scan"; // scan | code | bill | result | busy
let typed = "";
let prepared = null;
let lastText = "";
let lastAt = 0;
const usedHere = new Set(); // code ids this page has redeemed

const serverNow = () => Date.now() + offset;

// --- the shop's state: keys, offer, paused / full ---------------------------------------------------

function applyState(fresh) {
  state = fresh;
  offset = fresh.server_time - Date.now();
  keys = { ...keys, ...fresh.keys };
  rate = fresh.offer.rate_bp;
  cap = fresh.offer.cap_fen;
  minBill = fresh.offer.min_bill_fen;
  const capacity = $("rc-capacity");
  capacity.textContent = capacity.dataset.label.replace("%(used)s", fresh.used).replace("%(cap)s", fresh.capacity);
  const banner = $("rc-banner");
  const text =
    fresh.refusal === "merchant_paused"
      ? data.labelPaused
      : fresh.refusal
        ? data.labelClosed
        : fresh.full
          ? data.labelFull
          : "";
  banner.textContent = text;
  banner.classList.toggle("hidden", !text);
  root.classList.toggle("rc-blocked", Boolean(text));
}

async function refreshState() {
  const answer = await api(data.stateUrl, undefined, "GET");
  if (answer.ok) applyState(answer.data);
}

async function refreshKeys() {
  const answer = await api(data.keysUrl, undefined, "GET");
  if (answer.ok) keys = { ...keys, ...answer.data.keys };
}

const yuan = (fen) => (fen / 100).toFixed(2);

function show(id, visible) {
  $(id).classList.toggle("hidden", !visible);
}

async function api(url, body, method = "POST") {
  let response;
  try {
    response = await fetch(url, {
      method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": data.csrf, Accept: "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    return { ok: false, problem: { code: "offline", detail: data.labelOffline } };
  }
  if ([502, 503, 504].includes(response.status)) {
    return { ok: false, problem: { code: "offline", detail: data.labelOffline } }; // the proxy, not the app
  }
  let payload = null;
  try {
    payload = await response.json();
  } catch (error) {
    payload = null;
  }
  if (!response.ok) return { ok: false, problem: payload || { code: "error", detail: data.labelOffline } };
  return { ok: true, data: payload };
}

// --- modes -----------------------------------------------------------------------------------------

function toScan() {
  mode = "scan";
  prepared = null;
  typed = "";
  show("rc-result", false);
  show("rc-entry-view", false);
  show("rc-scan-view", true);
  status.textContent = data.labelPoint;
}

function toEntry(kind) {
  mode = kind;
  typed = "";
  show("rc-scan-view", false);
  show("rc-result", false);
  show("rc-entry-view", true);
  show("rc-member", kind === "bill");
  $("rc-key-dot").disabled = kind !== "bill";
  $("rc-entry-label").textContent = kind === "bill" ? data.labelBill + " (¥)" : data.labelCode;
  go.textContent = data.labelConfirm;
  renderEntry();
}

function result(ok, title, amount, detail, amber = false) {
  mode = "result";
  const box = $("rc-result");
  box.classList.toggle("rc-ok", ok && !amber);
  box.classList.toggle("rc-offline", amber);
  box.classList.toggle("rc-refused", !ok);
  $("rc-result-title").textContent = title;
  $("rc-result-amount").textContent = amount;
  $("rc-result-detail").textContent = detail;
  show("rc-entry-view", false);
  show("rc-scan-view", false);
  show("rc-result", true);
  if (navigator.vibrate) navigator.vibrate(ok ? 80 : [60, 60, 60]);
}

function refused(problem) {
  result(false, data.labelRefused, "", (problem && problem.detail) || data.labelInvalid);
}

// --- bill and code entry ---------------------------------------------------------------------------

function billFen(text) {
  if (!/^[0-9]{1,6}(\.[0-9]{0,2})?$/.test(text)) return null;
  const [whole, part = ""] = text.split(".");
  return Number(whole) * 100 + Number((part + "00").slice(0, 2));
}

function discountFor(fen) {
  let discount = Math.ceil((fen * rate) / 10000);
  if (cap !== null) discount = Math.min(discount, cap);
  return Math.min(discount, fen);
}

function renderEntry() {
  entry.textContent = typed || (mode === "bill" ? "0" : "");
  const preview = $("rc-preview");
  if (mode === "bill") {
    const fen = billFen(typed);
    if (fen && fen > 0) {
      const discount = discountFor(fen);
      preview.textContent = `${data.labelDiscount} ¥${yuan(discount)} · ${data.labelCharge} ¥${yuan(fen - discount)}`;
      go.disabled = minBill !== null && fen < minBill;
    } else {
      preview.textContent = "";
      go.disabled = true;
    }
  } else {
    preview.textContent = "";
    go.disabled = typed.length < 10;
  }
}

$("rc-keypad").addEventListener("click", (event) => {
  const key = event.target.closest("button[data-key]");
  if (!key || (mode !== "bill" && mode !== "code")) return;
  const value = key.dataset.key;
  if (value === "back") typed = typed.slice(0, -1);
  else if (mode === "code" && typed.length < 16 && value !== ".") typed += value;
  else if (mode === "bill" && /^[0-9]{0,6}(\.[0-9]{0,2})?$/.test(typed + value) && !(typed === "" && value === ".")) typed += value;
  renderEntry();
});

go.addEventListener("click", async () => {
  if (mode === "code") return handleCode(typed);
  if (mode !== "bill" || !prepared) return;
  const fen = billFen(typed);
  if (!fen) return;
  mode = "busy";
  go.disabled = true;
  // One request: the scanned code itself (checked here already), or the token of a typed code's lookup.
  const body = prepared.token
    ? { merchant: data.merchant, token: prepared.token, bill_fen: fen }
    : { merchant: data.merchant, code: prepared.code, bill_fen: fen };
  const answer = await api(data.confirmUrl, body);
  if (!answer.ok && answer.problem.code === "offline" && prepared.code) return acceptOffline(fen);
  if (!answer.ok) return refused(answer.problem);
  const r = answer.data;
  if (prepared.codeId) usedHere.add(prepared.codeId);
  result(true, data.labelCharge, `¥${yuan(r.charge_fen)}`, `${data.labelBill} ¥${yuan(r.bill_fen)} − ${data.labelDiscount} ¥${yuan(r.discount_fen)} · ${r.member}`);
  loadToday();
  refreshState();
});

// --- offline: accept, keep, sync -----------------------------------------------------------------------

async function acceptOffline(fen) {
  const policy = state.offline;
  // Only a card whose signed end was ahead at the scan (checked at the scan) and a shop that allows it.
  if (!policy.enabled || !window.indexedDB || !prepared.until) return refused({ detail: data.labelOffline });
  const queue = await queued(data.merchant);
  const oldest = queue.length ? Date.parse(queue[0].scanned_at) : serverNow();
  if (queue.length >= policy.queue_max || serverNow() - oldest > policy.max_age_seconds * 1000) {
    return refused({ detail: data.labelQueueFull }); // the server would not take more, or not these any more
  }
  if (queue.some((r) => r.codeId === prepared.codeId)) return refused({ detail: data.labelUsed });
  const discount = discountFor(fen);
  const name = $("rc-member-name").textContent;
  await enqueue({
    id: newId(),
    merchant: data.merchant,
    code: prepared.code,
    codeId: prepared.codeId,
    bill_fen: fen,
    discount_fen: discount,
    charge_fen: fen - discount,
    member: name,
    staff: Number(data.staff),
    scanned_at: new Date(prepared.scannedAt).toISOString(),
  });
  usedHere.add(prepared.codeId);
  result(true, data.labelOfflineAccepted, `¥${yuan(fen - discount)}`, `${data.labelBill} ¥${yuan(fen)} − ${data.labelDiscount} ¥${yuan(discount)} · ${name}`, true);
  showPending();
}

async function showPending(note = "") {
  const line = $("rc-pending");
  let count = 0;
  try {
    count = (await queued(data.merchant)).length;
  } catch (error) {
    count = 0;
  }
  const text = [count ? data.labelPending.replace("%(n)s", String(count)) : "", note].filter(Boolean).join(" · ");
  line.textContent = text;
  line.classList.toggle("hidden", !text);
}

let syncing = false;

async function syncOffline() {
  if (syncing || !window.indexedDB) return;
  syncing = true;
  try {
    const queue = await queued(data.merchant);
    if (!queue.length) return;
    const batch = queue.slice(0, state.offline.queue_max);
    const answer = await api(data.offlineUrl, {
      merchant: data.merchant,
      records: batch.map((r) => ({ id: r.id, code: r.code, bill_fen: r.bill_fen, scanned_at: r.scanned_at, staff: r.staff })),
    });
    if (!answer.ok) return;
    const results = answer.data.results || [];
    await forget(results.map((r) => r.id));
    const problems = results.filter((r) => r.outcome === "conflict" || r.outcome === "refused").length;
    const synced = results.length - problems;
    const note = [synced ? data.labelSynced.replace("%(n)s", String(synced)) : "", problems ? data.labelConflicts.replace("%(n)s", String(problems)) : ""];
    await showPending(note.filter(Boolean).join(" · "));
    loadToday();
    refreshState();
  } finally {
    syncing = false;
  }
}

window.addEventListener("online", syncOffline);
setInterval(syncOffline, 15000);

$("rc-cancel").addEventListener("click", toScan);
$("rc-next").addEventListener("click", toScan);
$("rc-type-code").addEventListener("click", () => toEntry("code"));

// --- a code was read -------------------------------------------------------------------------------

function showMember(name, placesLeft) {
  toEntry("bill");
  $("rc-member-name").textContent = name;
  const limits = [data.labelOffer];
  limits.push(data.labelPlacesLeft.replace("%(n)s", String(Math.max(0, placesLeft))));
  $("rc-member-offer").textContent = limits.join(" · ");
}

// The server looks the code up (typed codes, or no Ed25519 here): one more request before the confirm.
async function lookUp(text) {
  const answer = await api(data.prepareUrl, { merchant: data.merchant, code: text });
  if (!answer.ok) return refused(answer.problem);
  prepared = { token: answer.data.token };
  showMember(answer.data.member, answer.data.capacity_remaining);
}

// What the page can tell from the code alone: null when it is fine, else the refusal's wording.
function localRefusal(parsed, at) {
  if (!isLive(parsed.window, at, state.rotate_seconds, state.valid_seconds)) return data.labelExpired;
  if (parsed.until !== null && parsed.until <= at) return data.labelInactive;
  if (usedHere.has(parsed.codeId)) return data.labelUsed;
  return null;
}

async function handleCode(text) {
  mode = "busy";
  status.textContent = data.labelChecking;
  if (isNumeric(text)) return lookUp(text);
  const parsed = parseCode(text);
  let genuine = parsed && localVerify ? await verifySignature(text, keys) : null;
  if (parsed && genuine === false && !keys[parsed.kid]) {
    await refreshKeys(); // a rotated key ring: ask once for the current keys
    genuine = await verifySignature(text, keys);
  }
  if (!parsed || genuine === false) {
    // At once; the server still records the refused scan.
    api(data.prepareUrl, { merchant: data.merchant, code: text }).catch(() => {});
    return refused({ detail: data.labelInvalid });
  }
  if (genuine === null || parsed.version < 2) return lookUp(text);
  const at = serverNow();
  const refusal = localRefusal(parsed, at);
  if (refusal) return refused({ detail: refusal });
  prepared = { code: text, codeId: parsed.codeId, scannedAt: at, until: parsed.until };
  showMember(parsed.name, state.capacity - state.used);
}

// --- camera ---------------------------------------------------------------------------------------

const makeDetector = () => detectorFor(data.vendorUrl, data.wasmUrl);

async function startCamera() {
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
    video.srcObject = stream;
    await video.play();
  } catch (error) {
    status.textContent = data.labelCamera;
    toEntry("code");
    return;
  }
  status.textContent = data.labelPoint;
  const detector = await makeDetector();
  const tick = async () => {
    if (mode === "scan" && video.readyState >= 2) {
      try {
        const found = await detector.detect(video);
        const text = found.length ? found[0].rawValue : "";
        const now = Date.now();
        if (text && mode === "scan" && !(text === lastText && now - lastAt < 4000)) {
          lastText = text;
          lastAt = now;
          await handleCode(text);
        }
      } catch (error) {
        // a frame that could not be read; try the next
      }
    }
    setTimeout(tick, 200);
  };
  tick();
}

// --- today's list with void ------------------------------------------------------------------------

function item(text) {
  const li = document.createElement("li");
  li.className = "list-item";
  li.textContent = text;
  return li;
}

// Newest first, a page at a time: "earlier" loads the next page, so every voidable redemption is reachable.
async function loadToday(more = false) {
  const list = $("rc-today");
  const url = more ? list.dataset.next : data.dayUrl;
  if (!url) return;
  const answer = await api(url, undefined, "GET");
  if (!answer.ok) return;
  if (!more) list.replaceChildren();
  const rows = answer.data.results || [];
  if (!rows.length && !more) list.append(item(data.labelNothing));
  for (const r of rows) list.append(todayRow(r));
  list.dataset.next = answer.data.next || "";
  show("rc-today-more", Boolean(answer.data.next));
}

function todayRow(r) {
  const at = new Date(r.confirmed_at);
  const text = `${window.RedCardTime.clock(at)} · ${r.member} · ¥${yuan(r.bill_fen)} → ¥${yuan(r.charge_fen)}`;
  const li = item("");
  li.classList.add("rc-today-row");
  const label = document.createElement("span");
  label.textContent = text;
  li.append(label);
  if (r.status === "voided") {
    label.append(` · ${data.labelVoided}`);
    li.classList.add("rc-voided");
  } else if (Date.now() - at.getTime() < Number(data.voidMinutes) * 60000) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "button rc-void-open";
    button.textContent = data.labelVoid;
    button.addEventListener("click", () => openVoid(r, text, li));
    li.append(button);
  }
  return li;
}

// The void sheet: what is being voided, a reason, and a second, deliberate tap.
let voiding = null;

function openVoid(r, text, li) {
  voiding = { r, li };
  $("rc-void-what").textContent = text;
  $("rc-void-reason").value = "";
  $("rc-void-error").textContent = "";
  $("rc-void-sheet").showModal();
  $("rc-void-reason").focus();
}

$("rc-void-keep").addEventListener("click", () => $("rc-void-sheet").close());
$("rc-void-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!voiding) return;
  const reason = $("rc-void-reason").value.trim();
  if (!reason) return;
  $("rc-void-confirm").disabled = true;
  const answer = await api(`${data.voidUrl}${voiding.r.id}/void/`, { reason });
  $("rc-void-confirm").disabled = false;
  if (!answer.ok) {
    $("rc-void-error").textContent = (answer.problem && answer.problem.detail) || data.labelOffline;
    return;
  }
  $("rc-void-sheet").close();
  voiding.li.replaceWith(todayRow(answer.data)); // in place: the row may be on an earlier page
  voiding = null;
  refreshState();
});
$("rc-today-more").addEventListener("click", () => loadToday(true));

// --- incoming claims (tap or scan at the counter) --------------------------------------------------

let shownClaims = "";
// The feed answers 304 "nothing new" from Redis when sent the last answer's ETag (no database, no session).
// The feed token goes in a header, never the URL (request lines end up in access logs). A refused token (it
// expired after a day) falls back to the session-authenticated list.
let feedUrl = data.claimsFeedUrl;
let feedTag = "";

async function claimsAnswer() {
  if (!feedUrl) return api(data.claimsUrl, undefined, "GET");
  let response;
  try {
    const headers = { Accept: "application/json" };
    if (feedTag) headers["If-None-Match"] = feedTag;
    headers["X-Claim-Feed-Token"] = data.claimsFeedToken;
    response = await fetch(feedUrl, { credentials: "omit", cache: "no-store", headers });
  } catch (error) {
    return { ok: false };
  }
  if (response.status === 304) return { ok: true, unchanged: true };
  if (response.status === 403) {
    feedUrl = "";
    return api(data.claimsUrl, undefined, "GET");
  }
  if (!response.ok) return { ok: false };
  feedTag = response.headers.get("ETag") || "";
  return { ok: true, data: await response.json() };
}

async function pollClaims() {
  const answer = await claimsAnswer();
  if (answer.ok && !answer.unchanged) {
    const claims = answer.data.results || [];
    const signature = claims.map((c) => c.id).join(",");
    if (signature !== shownClaims) {
      shownClaims = signature;
      renderClaims(claims);
    }
  }
  setTimeout(pollClaims, 2000);
}

function renderClaims(claims) {
  const list = $("rc-claims");
  const empty = list.dataset.empty || (list.dataset.empty = list.textContent.trim());
  list.replaceChildren();
  if (!claims.length) list.append(item(empty));
  for (const c of claims) {
    const verified = c.tag_verified ? ` · ${data.labelTagVerified}` : "";
    const li = item(`#${c.short_number} · ${c.member} · ¥${yuan(c.bill_fen)} → ¥${yuan(c.charge_fen)}${verified}`);
    li.classList.add("rc-claim");
    li.dataset.claim = c.id;
    const ok = document.createElement("button");
    ok.type = "button";
    ok.className = "button primary rc-claim-confirm";
    ok.textContent = data.labelConfirm;
    const no = document.createElement("button");
    no.type = "button";
    no.className = "button danger rc-claim-reject";
    no.textContent = data.labelReject;
    ok.addEventListener("click", async () => {
      ok.disabled = no.disabled = true;
      const answer = await api(`${data.claimUrl}${c.id}/confirm/`, {});
      shownClaims = "";
      if (!answer.ok) return refused(answer.problem);
      const r = answer.data;
      result(true, data.labelCharge, `¥${yuan(r.bill_fen - r.discount_fen)}`, `#${r.short_number} · ${r.member}`);
      loadToday();
    });
    no.addEventListener("click", async () => {
      ok.disabled = no.disabled = true;
      await api(`${data.claimUrl}${c.id}/reject/`, {});
      shownClaims = "";
    });
    li.append(ok, no);
    list.append(li);
  }
}

applyState(state);
showPending();
syncOffline();
if ("serviceWorker" in navigator && data.swUrl) {
  navigator.serviceWorker.register(data.swUrl).catch(() => {});
}
canVerify(keys).then((yes) => {
  localVerify = yes;
});
setInterval(refreshState, 30000);
toScan();
startCamera();
pollClaims();
loadToday();
