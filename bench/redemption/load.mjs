// Load client for bench/redemption/run.py: prepare -> confirm with a fresh member code, for a bounded time,
// over keep-alive HTTP/1.1 (loopback). Closed loop (N clients, each starting its next pair when the last one
// ends) by default; open loop with a rate: pairs start at that many per second (Poisson arrivals), at most
// N in flight (a pair that finds N in flight waits for a connection, and its latency counts that wait).
//   node load.mjs <work.json> <base url> <token> <clients> <seconds> <warmup items> [pairs per second]
import { readFileSync } from "node:fs";
import http from "node:http";

const [file, base, token, clientsArg, secondsArg, warmupArg, rateArg] = process.argv.slice(2);
const rate = Number(rateArg || 0);
const work = JSON.parse(readFileSync(file, "utf8"));
const clients = Number(clientsArg);
const seconds = Number(secondsArg);
const warmup = Number(warmupArg);
const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
const url = new URL(base);

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
    request.on("error", reject);
    request.end(payload);
  });
}

let next = 0;
const stats = { prepare: [], confirm: [], pair: [], errors: {}, done: 0 };
let measuring = false;
let deadline = 0;

function count(kind) {
  stats.errors[kind] = (stats.errors[kind] || 0) + 1;
}

async function one(item) {
  const t0 = process.hrtime.bigint();
  const prepared = await post("/api/v1/redemptions/prepare/", { merchant: item.merchant, code: item.code });
  if (prepared.status !== 200) return count(`prepare ${prepared.status} ${prepared.json && prepared.json.code}`);
  const confirmed = await post("/api/v1/redemptions/confirm/", {
    merchant: item.merchant,
    token: prepared.json.token,
    bill_fen: item.bill_fen,
  });
  if (confirmed.status !== 201) return count(`confirm ${confirmed.status} ${confirmed.json && confirmed.json.code}`);
  if (measuring) {
    stats.prepare.push(prepared.ms);
    stats.confirm.push(confirmed.ms);
    stats.pair.push(Number(process.hrtime.bigint() - t0) / 1e6);
    stats.done += 1;
  }
}

async function loop(until) {
  while (Date.now() < until && next < work.length) {
    const item = work[next++];
    try {
      await one(item);
    } catch (error) {
      count(`network ${error.code || error.message}`);
    }
  }
}

// Warm-up (not measured): every worker process answers a few requests first.
const warmEnd = Date.now() + 60000;
await Promise.all(
  Array.from({ length: clients }, async () => {
    while (next < warmup && Date.now() < warmEnd) {
      const item = work[next++];
      try {
        await one(item);
      } catch (error) {
        count(`warmup ${error.code || error.message}`);
      }
    }
  }),
);
stats.errors = {};
measuring = true;
const start = Date.now();
deadline = start + seconds * 1000;
if (rate > 0) {
  // Open loop: arrivals at `rate` per second whatever the server's pace (a counter does not wait for the
  // previous member to finish before the next one queues).
  const running = [];
  let due = Date.now();
  while (Date.now() < deadline && next < work.length) {
    const item = work[next++];
    running.push(one(item).catch((error) => count(`network ${error.code || error.message}`)));
    due += (-Math.log(1 - Math.random()) / rate) * 1000;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }
  await Promise.all(running);
} else {
  await Promise.all(Array.from({ length: clients }, () => loop(deadline)));
}
const elapsed = (Date.now() - start) / 1000;

function pct(values, p) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] * 100) / 100;
}

const summary = {
  clients,
  offered_pairs_per_second: rate || null,
  seconds: elapsed,
  confirmed: stats.done,
  pairs_per_second: Math.round((stats.done / elapsed) * 10) / 10,
  requests_per_second: Math.round(((2 * stats.done) / elapsed) * 10) / 10,
  prepare_ms: { p50: pct(stats.prepare, 50), p99: pct(stats.prepare, 99) },
  confirm_ms: { p50: pct(stats.confirm, 50), p99: pct(stats.confirm, 99) },
  pair_ms: { p50: pct(stats.pair, 50), p99: pct(stats.pair, 99) },
  errors: stats.errors,
  ran_out_of_work: next >= work.length,
  items_used: next,
};
console.log(JSON.stringify(summary));
agent.destroy();
