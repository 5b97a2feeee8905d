// Load client for bench/redemption/run.py: one POST /api/v1/redemptions/confirm/ per redemption (the partner
// POS fast path: the member code and the bill in one request), for a bounded time, over keep-alive HTTP/1.1
// to a loopback address only. Closed loop (N clients, each sending its next request when the last one ends) by
// default; open loop with a rate: requests start at that many per second (Poisson arrivals), at most N in
// flight (one that finds N in flight waits for a connection, and its latency counts that wait).
//   node load.mjs <work.json> <base url> <token> <clients> <seconds> <warmup items> [requests per second]
// Prints "MEASURING" when the warm-up ends and "MEASURED" when the measured window closes (run.py reads the
// app server's CPU time at both), then one JSON line.
import { readFileSync } from "node:fs";
import http from "node:http";

const [file, base, token, clientsArg, secondsArg, warmupArg, rateArg] = process.argv.slice(2);
const url = new URL(base);
if (!["127.0.0.1", "localhost", "[::1]"].includes(url.hostname)) throw new Error("loopback only");
const rate = Number(rateArg || 0);
const work = JSON.parse(readFileSync(file, "utf8"));
const clients = Number(clientsArg);
const seconds = Math.min(Number(secondsArg), 120);
const warmup = Number(warmupArg);
const agent = new http.Agent({ keepAlive: true, maxSockets: clients });

function post(path, body) {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const request = http.request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        path,
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          "Content-Length": Buffer.byteLength(payload),
          Authorization: `Bearer ${token}`,
          Host: "127.0.0.1",
        },
        timeout: 30000,
      },
      (response) => {
        const chunks = [];
        response.on("data", (c) => chunks.push(c));
        response.on("end", () => {
          const ms = Number(process.hrtime.bigint() - started) / 1e6;
          let json = null;
          try {
            json = JSON.parse(Buffer.concat(chunks).toString());
          } catch (error) {
            json = null;
          }
          resolve({ status: response.statusCode, json, ms });
        });
      },
    );
    request.on("timeout", () => request.destroy(new Error("timeout")));
    request.on("error", reject);
    request.end(payload);
  });
}

let next = 0;
const stats = { confirm: [], errors: {}, done: 0 };
let measuring = false;

function count(kind) {
  stats.errors[kind] = (stats.errors[kind] || 0) + 1;
}

async function one(item) {
  const confirmed = await post("/api/v1/redemptions/confirm/", item);
  if (confirmed.status !== 201) return count(`confirm ${confirmed.status} ${confirmed.json && confirmed.json.code}`);
  if (measuring) {
    stats.confirm.push(confirmed.ms);
    stats.done += 1;
  }
}

async function guarded(item, label) {
  try {
    await one(item);
  } catch (error) {
    count(`${label} ${error.code || error.message}`);
  }
}

// Warm-up (not measured): every worker answers a few requests first.
const warmEnd = Date.now() + 30000;
await Promise.all(
  Array.from({ length: clients }, async () => {
    while (next < warmup && Date.now() < warmEnd) await guarded(work[next++], "warmup");
  }),
);
stats.errors = {};
measuring = true;
console.log("MEASURING");
const start = Date.now();
const deadline = start + seconds * 1000;
if (rate > 0) {
  // Open loop: arrivals at `rate` per second whatever the server's pace (a counter does not wait for the
  // previous member to finish before the next one queues).
  const running = [];
  let due = Date.now();
  while (Date.now() < deadline && next < work.length) {
    running.push(guarded(work[next++], "network"));
    due += (-Math.log(1 - Math.random()) / rate) * 1000;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }
  await Promise.all(running);
} else {
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (Date.now() < deadline && next < work.length) await guarded(work[next++], "network");
    }),
  );
}
const elapsed = (Date.now() - start) / 1000;
console.log("MEASURED");

function pct(values, p) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round(sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] * 100) / 100;
}

console.log(
  JSON.stringify({
    clients,
    offered_per_second: rate || null,
    seconds: elapsed,
    confirmed: stats.done,
    per_second: Math.round((stats.done / elapsed) * 10) / 10,
    ms: { p50: pct(stats.confirm, 50), p90: pct(stats.confirm, 90), p99: pct(stats.confirm, 99), max: pct(stats.confirm, 100) },
    errors: stats.errors,
    ran_out_of_work: next >= work.length,
    items_used: next,
  }),
);
agent.destroy();
