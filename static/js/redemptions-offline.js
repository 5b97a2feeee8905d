// The scanner's offline queue: redemptions accepted while the network was down, kept in IndexedDB (they
// survive a reload or a closed tab) until the server has judged them (POST /api/v1/redemptions/offline/).
// A record: {id (uuid, the server's idempotency key), merchant, code, codeId, bill_fen, discount_fen,
// charge_fen, member, staff, scanned_at (ISO, server clock)}.

const NAME = "redcard-counter";
const STORE = "offline";

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

let opened = null;

function database() {
  if (!opened) {
    const req = indexedDB.open(NAME, 1);
    req.onupgradeneeded = () => {
      const store = req.result.createObjectStore(STORE, { keyPath: "id" });
      store.createIndex("merchant", "merchant");
    };
    opened = request(req);
  }
  return opened;
}

async function store(mode) {
  const db = await database();
  return db.transaction(STORE, mode).objectStore(STORE);
}

// This shop's queue, oldest scan first.
export async function queued(merchant) {
  const rows = await request((await store("readonly")).index("merchant").getAll(merchant));
  return rows.sort((a, b) => (a.scanned_at < b.scanned_at ? -1 : 1));
}

export async function enqueue(record) {
  await request((await store("readwrite")).add(record));
}

export async function forget(ids) {
  const objects = await store("readwrite");
  await Promise.all(ids.map((id) => request(objects.delete(id))));
}

export function newId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
