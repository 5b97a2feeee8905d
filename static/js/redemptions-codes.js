// Member codes in the browser: check the Ed25519 signature with the public keys alone (WebCrypto).
// Format (redemptions/codes.py): "RC" + base32(01 | len(kid) | kid | window u32 | member 16 | sig 64).

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

export function parseCode(text) {
  const upper = (text || "").trim().toUpperCase();
  if (!upper.startsWith("RC")) return null;
  const raw = base32Decode(upper.slice(2));
  if (!raw || raw.length < 2 || raw[0] !== 1) return null;
  const kidLen = raw[1];
  const bodyLen = 2 + kidLen + 4 + 16;
  if (raw.length !== bodyLen + 64) return null;
  const kid = new TextDecoder().decode(raw.slice(2, 2 + kidLen));
  const view = new DataView(raw.buffer, raw.byteOffset + 2 + kidLen, 4);
  return { kid, window: view.getUint32(0), message: raw.slice(0, bodyLen), signature: raw.slice(bodyLen) };
}

const imported = new Map();

async function publicKey(kid, keys) {
  if (!keys[kid]) return null;
  if (!imported.has(kid)) {
    imported.set(kid, crypto.subtle.importKey("raw", base64UrlDecode(keys[kid]), { name: "Ed25519" }, false, ["verify"]));
  }
  return imported.get(kid);
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
