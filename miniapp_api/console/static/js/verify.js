// Offline verification of e-ID codes in the browser, as README "Verifying offline" describes: the keys
// are pinned from /.well-known/jwks.json (fetched from our own origin), the verifier bundle and the
// revocation feed are compact JWS documents checked with those keys (typ and exp too), and a code is
// a JWS (EdDSA / Ed25519, kid in the header) over an 18-byte record, checked with WebCrypto.
// The state is kept in the Cache API, so a gate with no network still tells genuine, revoked and
// forged codes apart. Nothing personal is ever in it: ids, serials and revocations only.

const STATE_CACHE = "gmid-verifier";
const STATE_KEY = "/console/_verifier-state";
const MAX_TOKEN_LENGTH = 512;
const FUTURE_LEEWAY_SECONDS = 300;
const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const B64URL = /^[A-Za-z0-9_-]*$/;
const LEGACY_KID_LENGTH = 8;
const BUNDLE_TYP = "gmid-verifier-bundle+jwt";
const FEED_TYP = "gmid-revocations+jwt";
const BUNDLE_MAX_AGE_MS = 6 * 3600 * 1000;

export class VerifyError extends Error {
  constructor(code, message) {
    super(message || code);
    this.code = code;
  }
}

export function b64urlDecode(text) {
  if (!B64URL.test(text) || text.length % 4 === 1) throw new VerifyError("malformed");
  const padded = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
  const binary = atob(padded);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

export function b64urlEncode(bytes) {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

// 8 bytes as 13 Crockford base32 characters, as the server spells a public id.
export function crockford(bytes) {
  let number = 0n;
  for (const b of bytes) number = (number << 8n) | BigInt(b);
  let text = "";
  for (let i = 0; i < 13; i++) {
    text = CROCKFORD[Number(number & 31n)] + text;
    number >>= 5n;
  }
  return text;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });
const ascii = new TextEncoder();

function splitJws(token) {
  const parts = token.split(".");
  if (parts.length !== 3 || !parts[0] || !parts[1] || !parts.every((p) => B64URL.test(p))) {
    throw new VerifyError("malformed");
  }
  let header;
  try {
    header = JSON.parse(utf8.decode(b64urlDecode(parts[0])));
  } catch {
    throw new VerifyError("malformed");
  }
  if (!header || typeof header !== "object" || Array.isArray(header)) throw new VerifyError("malformed");
  return { parts, header, payload: b64urlDecode(parts[1]), signature: b64urlDecode(parts[2]) };
}

// The key a kid names: the full RFC 7638 thumbprint, or the 8 characters of codes printed before it
// (then the one key whose kid starts with them).
function findKey(keys, kid) {
  const exact = keys.find((k) => k.kid === kid);
  if (exact || kid.length !== LEGACY_KID_LENGTH) return exact || null;
  const matches = keys.filter((k) => typeof k.kid === "string" && k.kid.startsWith(kid));
  return matches.length === 1 ? matches[0] : null;
}

const imported = new Map();
async function cryptoKey(jwk) {
  if (!imported.has(jwk.x)) {
    const key = crypto.subtle.importKey("jwk", { kty: "OKP", crv: "Ed25519", x: jwk.x }, { name: "Ed25519" }, false, [
      "verify",
    ]);
    imported.set(jwk.x, key);
  }
  return imported.get(jwk.x);
}

async function signatureValid(jwk, parts, signature) {
  if (!jwk || jwk.kty !== "OKP" || jwk.crv !== "Ed25519" || typeof jwk.x !== "string") return false;
  if (signature.length !== 64 || b64urlEncode(signature) !== parts[2]) return false;
  const key = await cryptoKey(jwk);
  return crypto.subtle.verify({ name: "Ed25519" }, key, signature, ascii.encode(`${parts[0]}.${parts[1]}`));
}

// A signed document of the feed (bundle or revocations): its signature by a pinned key, its typ, its exp.
export async function verifyDocument(jws, keys, typ, now = Date.now() / 1000) {
  const { parts, header, payload, signature } = splitJws(jws.trim());
  if (header.alg !== "EdDSA") throw new VerifyError("algorithm_not_allowed");
  if (header.typ !== typ) throw new VerifyError("wrong_typ");
  const jwk = typeof header.kid === "string" ? findKey(keys, header.kid) : null;
  if (!jwk) throw new VerifyError("unknown_key");
  if (!(await signatureValid(jwk, parts, signature))) throw new VerifyError("bad_signature");
  let body;
  try {
    body = JSON.parse(utf8.decode(payload));
  } catch {
    throw new VerifyError("malformed");
  }
  if (typeof body.exp !== "number" || body.exp < now) throw new VerifyError("expired");
  return body;
}

// The token inside a scanned payload: the code's URL (refused when not our issuer's) or the bare token.
export function tokenFromPayload(payload, issuer) {
  const text = String(payload || "").trim();
  if (text.length > 2048) throw new VerifyError("malformed");
  if (!text.includes("://")) return text;
  let url;
  try {
    url = new URL(text);
  } catch {
    throw new VerifyError("malformed");
  }
  const path = decodeURIComponent(url.pathname);
  const at = path.lastIndexOf("/q/");
  if (at < 0) throw new VerifyError("malformed");
  if (issuer) {
    const expected = new URL(issuer);
    const prefix = path.slice(0, at).replace(/\/+$/, "");
    const same = url.protocol === expected.protocol && url.host.toLowerCase() === expected.host.toLowerCase()
      && prefix === expected.pathname.replace(/\/+$/, "");
    if (!same) throw new VerifyError("foreign_url");
  }
  return path.slice(at + 3).replace(/^\/+|\/+$/g, "");
}

function canonicalHeader(kid) {
  return b64urlEncode(ascii.encode(JSON.stringify({ alg: "EdDSA", kid })));
}

// The code's own checks, in the server's order (qr/codec.py verify): shape, alg, header, key,
// signature, record, issue time.
export async function verifyToken(token, keys, now = Date.now() / 1000) {
  if (!token || token.length > MAX_TOKEN_LENGTH) throw new VerifyError("malformed");
  const { parts, header, payload, signature } = splitJws(token);
  if (header.alg !== "EdDSA") throw new VerifyError("algorithm_not_allowed");
  if (Object.keys(header).some((name) => name !== "alg" && name !== "kid")) throw new VerifyError("malformed");
  if (typeof header.kid !== "string") throw new VerifyError("unknown_key");
  if (parts[0] !== canonicalHeader(header.kid)) throw new VerifyError("malformed");
  const jwk = findKey(keys, header.kid);
  if (!jwk) throw new VerifyError("unknown_key");
  if (!(await signatureValid(jwk, parts, signature))) throw new VerifyError("bad_signature");
  if (payload.length !== 18 || payload[0] !== 1) throw new VerifyError("malformed");
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const claims = {
    kind: payload[1],
    id: crockford(payload.slice(2, 10)),
    serial: view.getUint32(10),
    iat: view.getUint32(14),
  };
  if (claims.iat > now + FUTURE_LEEWAY_SECONDS) throw new VerifyError("issued_in_future");
  return claims;
}

// The revocation list: the latest entry per id, where a revocation is never undone by a later reissue
// entry (the same compaction as the server's bundle).
function applyEntries(revocations, entries) {
  for (const e of entries || []) {
    if (!e || typeof e.id !== "string" || typeof e.min_serial !== "number") continue;
    const current = revocations[e.id];
    if (!current || e.revoked || !current.revoked) revocations[e.id] = { min_serial: e.min_serial, revoked: !!e.revoked };
  }
}

async function fetchText(url, accept) {
  const response = await fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: accept } });
  if (!response.ok) throw new VerifyError("http", `${url}: ${response.status}`);
  return response.text();
}

export class OfflineVerifier {
  constructor() {
    this.state = null; // {iss, keys, kinds, revocations: {id: {min_serial, revoked}}, until, epoch, exp, synced_at}
  }

  get ready() {
    return !!(this.state && this.state.keys && this.state.keys.length);
  }

  get stale() {
    return !this.state || this.state.exp < Date.now() / 1000;
  }

  async load() {
    try {
      const cache = await caches.open(STATE_CACHE);
      const stored = await cache.match(STATE_KEY);
      if (stored) this.state = await stored.json();
    } catch {
      this.state = null;
    }
    return this.ready;
  }

  async save() {
    const cache = await caches.open(STATE_CACHE);
    const body = JSON.stringify(this.state);
    await cache.put(STATE_KEY, new Response(body, { headers: { "Content-Type": "application/json" } }));
  }

  // Online: pin the keys, take the whole bundle when there is no state (or the keys changed), then
  // follow the feed from where the state ends. A feed of another epoch (a restored database) or whose
  // head is below our position means the server's list started over: resync from zero.
  async refresh() {
    const jwks = JSON.parse(await fetchText("/.well-known/jwks.json", "application/json"));
    const keys = Array.isArray(jwks.keys) ? jwks.keys.filter((k) => k.kty === "OKP" && k.crv === "Ed25519") : [];
    if (!keys.length) throw new VerifyError("no_keys");
    // The feed alone while the keys are the same and the bundle is recent (new kinds come with a bundle).
    const recent = this.state && Date.now() - (this.state.bundle_at || 0) < BUNDLE_MAX_AGE_MS;
    const sameKeys = recent && JSON.stringify(this.state.keys) === JSON.stringify(keys);
    let state = sameKeys ? { ...this.state, keys } : await this.fromBundle(keys);
    for (let round = 0; round < 1000; round++) {
      const epoch = state.epoch ? `&epoch=${encodeURIComponent(state.epoch)}` : "";
      const doc = await verifyDocument(
        await fetchText(`/api/v1/qr/revocations?since=${state.until}${epoch}`, "application/jose"), keys, FEED_TYP,
      );
      const otherEpoch = doc.reset === true || (state.epoch && doc.epoch && doc.epoch !== state.epoch);
      if (otherEpoch || (typeof doc.head === "number" && doc.head < state.until)) {
        if (state.resynced) throw new VerifyError("feed_inconsistent");
        state = { ...(await this.fromBundle(keys)), resynced: true };
        continue;
      }
      applyEntries(state.revocations, doc.entries);
      state.until = Math.max(state.until, doc.until || 0);
      if (doc.epoch) state.epoch = doc.epoch;
      if (!doc.more) {
        state.exp = doc.exp;
        break;
      }
    }
    delete state.resynced;
    state.synced_at = Date.now();
    this.state = state;
    await this.save();
    return state;
  }

  async fromBundle(keys) {
    const bundle = await verifyDocument(await fetchText("/api/v1/qr/verifier-bundle", "application/jose"), keys, BUNDLE_TYP);
    const revocations = {};
    applyEntries(revocations, bundle.revocations && bundle.revocations.entries);
    return {
      iss: bundle.iss,
      keys,
      kinds: bundle.kinds || {},
      revocations,
      until: (bundle.revocations && bundle.revocations.until) || 0,
      epoch: (bundle.revocations && bundle.revocations.epoch) || null,
      exp: bundle.exp,
      synced_at: Date.now(),
      bundle_at: Date.now(),
    };
  }

  // A scanned payload, checked with what the state holds: {code: "ok" | why refused, claims, kind}.
  async check(payload) {
    if (!this.ready) throw new VerifyError("not_ready");
    const state = this.state;
    let claims = null;
    try {
      claims = await verifyToken(tokenFromPayload(payload, state.iss), state.keys);
    } catch (err) {
      if (err instanceof VerifyError) return { code: err.code, claims: null, kind: null };
      throw err;
    }
    const kind = state.kinds[String(claims.kind)] || null;
    if (!kind) return { code: "not_found", claims, kind };
    const entry = state.revocations[claims.id];
    if (entry && entry.revoked) return { code: "revoked", claims, kind };
    if (entry && claims.serial < entry.min_serial) return { code: "superseded", claims, kind };
    return { code: "ok", claims, kind };
  }
}
