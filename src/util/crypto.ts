/**
 * The byte and MAC helpers every signer here uses (JWTs, client and visitor tokens, webhook
 * signatures, attachment links): HMAC SHA-256 through WebCrypto, SHA-256, hex, base64url with
 * canonical decoding (one spelling per value), and a constant-time comparison. No dependency:
 * each is a few lines over WebCrypto and `btoa`/`atob`.
 */

const encoder = new TextEncoder();

type Bytes = Uint8Array<ArrayBuffer>;
const bytesOf = (data: string | Uint8Array): Bytes =>
  typeof data === "string" ? encoder.encode(data) : new Uint8Array(data);

/** Bytes as lower-case hex. */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Bytes as unpadded base64url (RFC 4648 §5). */
export function base64urlEncode(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/**
 * Unpadded base64url as bytes; `undefined` unless the text is the canonical encoding: no padding,
 * no other alphabet, and zero unused bits in the last character (which `atob` would ignore, so
 * "…A" and "…B" would otherwise both decode to the same MAC).
 */
export function base64urlDecode(text: string): Uint8Array<ArrayBuffer> | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return undefined;
  const binary = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return base64urlEncode(bytes) === text ? bytes : undefined;
}

/** SHA-256 of text (UTF-8) or bytes. */
export async function sha256(data: string | Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytesOf(data)));
}

/** Hex SHA-256 of text (UTF-8) or bytes. */
export async function sha256Hex(data: string | Uint8Array): Promise<string> {
  return toHex(await sha256(data));
}

const MAX_CACHED_KEYS = 16;
const keyCache = new Map<string, Promise<CryptoKey>>();

/** An HMAC SHA-256 key from secret text (UTF-8) or bytes, imported anew. */
export function importHmacKey(secret: string | Uint8Array): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", bytesOf(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
    "verify",
  ]);
}

/**
 * The HMAC SHA-256 key for a secret the engine uses again and again (its token secrets),
 * imported once and cached, a few at a time. Secrets of many parties (webhook subscriptions) go
 * through {@link hmacSha256} uncached instead, so they cannot push these out.
 */
export function hmacKey(secret: string): Promise<CryptoKey> {
  let key = keyCache.get(secret);
  if (!key) {
    if (keyCache.size >= MAX_CACHED_KEYS) keyCache.clear();
    key = importHmacKey(secret);
    keyCache.set(secret, key);
    key.catch(() => keyCache.delete(secret));
  }
  return key;
}

/** HMAC SHA-256 of `data` (text as UTF-8) under a key, or a secret imported for this call. */
export async function hmacSha256(
  key: CryptoKey | string | Uint8Array,
  data: string | Uint8Array,
): Promise<Uint8Array> {
  const k = key instanceof CryptoKey ? key : await importHmacKey(key);
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, bytesOf(data)));
}

/** Whether `mac` is the HMAC SHA-256 of `data` under the key (compared in constant time). */
export async function verifyHmacSha256(
  key: CryptoKey | string | Uint8Array,
  data: string | Uint8Array,
  mac: Uint8Array,
): Promise<boolean> {
  const k = key instanceof CryptoKey ? key : await importHmacKey(key);
  return await crypto.subtle.verify("HMAC", k, bytesOf(mac), bytesOf(data));
}

/**
 * Whether two strings are equal, in time that depends only on their lengths (for comparing a
 * received signature with the expected one).
 */
export function timingSafeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}
