// Load client for bench/claim_feed/run.py: N open scanners polling the claim feed as the scanner page does
// (one GET, then the next one 2 s after the answer), over keep-alive HTTP/1.1 on loopback, for a bounded time.
//   node scanners.mjs <scanners.json> <base url> <mode: feed|legacy|livez> <seconds> <warmup seconds> <sockets>
// feed: the signed feed URL with If-None-Match (the last answer's ETag); legacy: the session-authenticated list
// (/claims/pending/, a database read each time); livez: the same polling against /livez (the stack's floor).
import { readFileSync } from "node:fs";
import http from "node:http";

const [file, base, mode, secondsArg, warmupArg, socketsArg] = process.argv.slice(2);
const scanners = JSON.parse(readFileSync(file, "utf8"));
const seconds = Number(secondsArg);
const warmup = Number(warmupArg);
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(socketsArg) });
const url = new URL(base);
const INTERVAL_MS = 2000;

function get(path, headers) {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const request = http.request(
      { agent, host: url.hostname, port: url.port, path, method: "GET", headers: { Host: "127.0.0.1", ...headers } },
      (response) => {
        response.resume();
        response.on("end", () =>
          resolve({ status: response.statusCode, etag: response.headers.etag || "", ms: Number(process.hrtime.bigint() - started) / 1e6 }),
        );
      },
    );
    request.on("error", () => resolve({ status: 0, etag: "", ms: Number(process.hrtime.bigint() - started) / 1e6 }));
    request.setTimeout(30000, () => request.destroy());
    request.end();
  });
}

const stats = { latencies: [], statuses: {}, polls: 0 };
const t0 = Date.now();
const start = t0 + warmup * 1000;
const end = start + seconds * 1000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function scanner(s) {
  await sleep(Math.random() * INTERVAL_MS); // the pages were opened at different moments
  let etag = s.etag || "";
  while (Date.now() < end) {
    let answer;
    if (mode === "feed")
      answer = await get(s.feed, { "X-Claim-Feed-Token": s.token, ...(etag ? { "If-None-Match": etag } : {}) });
    else if (mode === "legacy") answer = await get(s.legacy, { Cookie: s.cookie });
    else answer = await get("/livez", {});
    if (answer.etag) etag = answer.etag;
    const now = Date.now();
    if (now >= start && now < end) {
      stats.polls += 1;
      stats.latencies.push(answer.ms);
      stats.statuses[answer.status] = (stats.statuses[answer.status] || 0) + 1;
    }
    await sleep(INTERVAL_MS);
  }
}

// Bounded: report at the end of the window (plus 2 s for answers under way) whatever is still queued.
await Promise.race([Promise.all(scanners.map(scanner)), sleep(end - Date.now() + 2000)]);
const sorted = stats.latencies.sort((a, b) => a - b);
const pct = (p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] : 0);
console.log(
  JSON.stringify({
    mode,
    scanners: scanners.length,
    seconds,
    polls: stats.polls,
    polls_per_s: +(stats.polls / seconds).toFixed(1),
    statuses: stats.statuses,
    p50_ms: +pct(0.5).toFixed(1),
    p99_ms: +pct(0.99).toFixed(1),
  }),
);
agent.destroy();
process.exit(0);
