// Staff scanner: camera at once, native BarcodeDetector or the vendored ZXing polyfill (loaded only
// when needed, wasm served from /static/), signature checked in the page, prepare -> bill keypad ->
// confirm -> full-screen green/red, today's list with void, incoming tap claims polled every 2 s.
import { isNumeric, verifySignature } from "./redemptions-codes.js";
import { makeDetector as detectorFor } from "./redemptions-camera.js";

const root = document.getElementById("rc-scanner");
const data = root.dataset;
const keys = JSON.parse(document.getElementById("rc-keys").textContent).keys;
const $ = (id) => document.getElementById(id);
const video = $("rc-video");
const status = $("rc-scan-status");
const entry = $("rc-entry");
const go = $("rc-go");
const rate = Number(data.rateBp);
const cap = data.capFen ? Number(data.capFen) : null;
const minBill = data.minBillFen ? Number(data.minBillFen) : null;

let mode = "scan"; // scan | code | bill | result | busy
let typed = "";
let prepared = null;
let lastText = "";
let lastAt = 0;

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
  $("rc-entry-label").textContent = kind === "bill" ? data.labelBill + " (¥)" : "RedCard";
  go.textContent = data.labelConfirm;
  renderEntry();
}

function result(ok, title, amount, detail) {
  mode = "result";
  const box = $("rc-result");
  box.classList.toggle("rc-ok", ok);
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
  const answer = await api(data.confirmUrl, { merchant: data.merchant, token: prepared.token, bill_fen: fen });
  if (!answer.ok) return refused(answer.problem);
  const r = answer.data;
  result(true, data.labelCharge, `¥${yuan(r.charge_fen)}`, `${data.labelBill} ¥${yuan(r.bill_fen)} − ${data.labelDiscount} ¥${yuan(r.discount_fen)} · ${r.member}`);
  loadToday();
});

$("rc-cancel").addEventListener("click", toScan);
$("rc-next").addEventListener("click", toScan);
$("rc-type-code").addEventListener("click", () => toEntry("code"));

// --- a code was read -------------------------------------------------------------------------------

async function handleCode(text) {
  mode = "busy";
  status.textContent = data.labelChecking;
  const genuine = await verifySignature(text, keys);
  const request = api(data.prepareUrl, { merchant: data.merchant, code: text });
  if (genuine === false) {
    refused({ detail: data.labelInvalid }); // at once; the server still records the refused scan
    request.catch(() => {});
    return;
  }
  const answer = await request;
  if (!answer.ok) return refused(answer.problem);
  prepared = answer.data;
  toEntry("bill");
  $("rc-member-name").textContent = prepared.member;
  const limits = [data.labelOffer];
  limits.push(data.labelPlacesLeft.replace("%(n)s", String(prepared.capacity_remaining)));
  $("rc-member-offer").textContent = limits.join(" · ");
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

async function loadToday() {
  const answer = await api(data.dayUrl, undefined, "GET");
  if (!answer.ok) return;
  const list = $("rc-today");
  list.replaceChildren();
  const rows = answer.data.results || [];
  if (!rows.length) list.append(item(data.labelNothing));
  const windowMs = Number(data.voidMinutes) * 60000;
  for (const r of rows) {
    const at = new Date(r.confirmed_at);
    const time = window.RedCardTime.clock(at);
    const li = item(`${time} · ${r.member} · ¥${yuan(r.bill_fen)} → ¥${yuan(r.charge_fen)}`);
    if (r.status === "voided") {
      li.append(` · ${data.labelVoided}`);
      li.classList.add("rc-voided");
    } else if (Date.now() - at.getTime() < windowMs) {
      const form = document.createElement("form");
      form.className = "rc-void";
      const reason = document.createElement("input");
      reason.name = "reason";
      reason.required = true;
      reason.placeholder = data.labelReason;
      const button = document.createElement("button");
      button.type = "submit";
      button.className = "button danger";
      button.textContent = data.labelVoid;
      form.append(reason, button);
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const answer = await api(`${data.voidUrl}${r.id}/void/`, { reason: reason.value });
        if (!answer.ok) refused(answer.problem);
        loadToday();
      });
      li.append(form);
    }
    list.append(li);
  }
}

// --- incoming claims (tap or scan at the counter) --------------------------------------------------

let shownClaims = "";

async function pollClaims() {
  const answer = await api(data.claimsUrl, undefined, "GET");
  if (answer.ok) {
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

toScan();
startCamera();
pollClaims();
loadToday();
