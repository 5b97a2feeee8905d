// The scanner's event mode: camera at once (native BarcodeDetector or the vendored ZXing polyfill,
// as at the counter), each code read is posted to the check-in endpoint, then a full-screen green
// "Checked in · 2 people" or red with the plain reason. Typed codes use the page's form.
import { makeDetector as detectorFor } from "./redemptions-camera.js";

const root = document.getElementById("rc-door");
const data = root.dataset;
const $ = (id) => document.getElementById(id);
const video = $("rc-video");
const status = $("rc-scan-status");
const result = $("rc-result");
let busy = false;
let lastText = "";
let lastAt = 0;

function show(ok, title, detail) {
  result.classList.remove("hidden", "rc-ok", "rc-refused");
  result.classList.add(ok ? "rc-ok" : "rc-refused");
  $("rc-result-title").textContent = title;
  $("rc-result-detail").textContent = detail;
}

async function checkIn(code) {
  busy = true;
  let response;
  try {
    response = await fetch(data.checkinUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": data.csrf, Accept: "application/json" },
      body: JSON.stringify({ code }),
    });
  } catch (error) {
    show(false, data.labelRefused, data.labelOffline);
    return;
  }
  const body = await response.json().catch(() => ({}));
  if (response.ok) {
    show(true, `${data.labelOk} · ${data.labelPeople.replace("{n}", body.places)}`, body.member || "");
  } else {
    show(false, data.labelRefused, body.detail || data.labelOffline);
  }
}

$("rc-next").addEventListener("click", (event) => {
  if (!busy) return; // no scan on this page yet: follow the link
  event.preventDefault();
  result.classList.add("hidden");
  busy = false;
});

const makeDetector = () => detectorFor(data.vendorUrl, data.wasmUrl);

async function start() {
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
    video.srcObject = stream;
    await video.play();
  } catch (error) {
    status.textContent = data.labelCamera;
    return;
  }
  status.textContent = data.labelPoint;
  const detector = await makeDetector();
  const tick = async () => {
    if (!busy && video.readyState >= 2) {
      try {
        const found = await detector.detect(video);
        const text = found.length ? found[0].rawValue : "";
        const now = Date.now();
        if (text && !(text === lastText && now - lastAt < 4000)) {
          lastText = text;
          lastAt = now;
          await checkIn(text);
        }
      } catch (error) {
        // a frame that could not be read; try the next
      }
    }
    setTimeout(tick, 200);
  };
  tick();
}

start();
