// Member codes in the browser: check the Ed25519 signature with the public keys alone (WebCrypto) and
// read what the card signed into the code. Format (redemptions/counter/codes.py): "RC" + base32 of
// version 2: 02 | len(kid) | kid | window u32 | member 16 | entitled-until u32 | len(name) | name | sig 64
// version 1: 01 | len(kid) | kid | window u32 | member 16 | sig 64.

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

export function base32Decode(text) {
  let bits = 0, value = 0;
  const out = [];
  for (const ch of text) {
    const index = ALPHABET.indexOf(ch);
    if (index < 0) return null;
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return new Uint8Array(out);
}

function base64UrlDecode(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

export function isNumeric(text) {
  return /^[0-9 ]+$/.test(text);
}

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

// {kid, window, member (hex, as the server's code id), codeId, until (ms or null), name, version,
// message, signature} or null when the text is not a RedCard code.
export function parseCode(text) {
  const upper = (text || "").trim().toUpperCase();
  if (!upper.startsWith("RC")) return null;
  const raw = base32Decode(upper.slice(2));
  if (!raw || raw.length < 2 || (raw[0] !== 1 && raw[0] !== 2)) return null;
  const kidLen = raw[1];
  let bodyLen = 2 + kidLen + 4 + 16;
  let until = null;
  let name = "";
  if (raw[0] === 2) {
    if (raw.length < bodyLen + 5) return null;
    const seconds = new DataView(raw.buffer, raw.byteOffset + bodyLen, 4).getUint32(0);
    until = seconds ? seconds * 1000 : null;
    const nameLen = raw[bodyLen + 4];
    name = new TextDecoder().decode(raw.slice(bodyLen + 5, bodyLen + 5 + nameLen));
    bodyLen += 5 + nameLen;
  }
  if (raw.length !== bodyLen + 64) return null;
  const kid = new TextDecoder().decode(raw.slice(2, 2 + kidLen));
  const window = new DataView(raw.buffer, raw.byteOffset + 2 + kidLen, 4).getUint32(0);
  const member = hex(raw.slice(6 + kidLen, 22 + kidLen));
  return {
    kid,
    window,
    member,
    codeId: `${member}.${window}`,
    until,
    name,
    version: raw[0],
    message: raw.slice(0, bodyLen),
    signature: raw.slice(bodyLen),
  };
}

// Whether a code of ``window`` is accepted at ``at`` (ms), as codes.live_windows says on the server.
export function isLive(window, at, rotateSeconds, validSeconds) {
  const now = Math.floor(at / 1000 / rotateSeconds);
  const back = Math.ceil(validSeconds / rotateSeconds) - 1;
  return window >= now - back && window <= now + 1;
}

const imported = new Map();

async function publicKey(kid, keys) {
  if (!keys[kid]) return null;
  const cacheKey = `${kid}:${keys[kid]}`;
  if (!imported.has(cacheKey)) {
    imported.set(cacheKey, crypto.subtle.importKey("raw", base64UrlDecode(keys[kid]), { name: "Ed25519" }, false, ["verify"]));
  }
  return imported.get(cacheKey);
}

// Whether this browser verifies Ed25519 in WebCrypto (else the scanner asks the server).
export async function canVerify(keys) {
  if (!(globalThis.crypto && crypto.subtle)) return false;
  const kid = Object.keys(keys || {})[0];
  if (!kid) return false;
  try {
    return Boolean(await publicKey(kid, keys));
  } catch (error) {
    imported.clear();
    return false;
  }
}

// true: genuine; false: not a RedCard code or a bad signature; null: cannot tell here (typed code,
// or a browser without Ed25519 in WebCrypto) — the server decides.
export async function verifySignature(text, keys) {
  if (isNumeric(text)) return null;
  const parsed = parseCode(text);
  if (!parsed) return false;
  if (!crypto.subtle) return null;
  try {
    const key = await publicKey(parsed.kid, keys);
    if (!key) return false;
    const signed = new Uint8Array(2 + parsed.message.length);
    signed.set([0x52, 0x43]); // "RC"
    signed.set(parsed.message, 2);
    return await crypto.subtle.verify({ name: "Ed25519" }, key, parsed.signature, signed);
  } catch (error) {
    return null;
  }
}
