/**
 * Signed, expiring download links of the local store: `sig = HMAC-SHA256(key, "id|exp")`. The key
 * is derived from the engine's JWT secret, so every node of a cluster accepts every node's links
 * and no extra secret has to be configured; a link cannot be turned into a token or back.
 */

const enc = new TextEncoder();

function base64url(bytes: ArrayBuffer): string {
  return btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64url(s: string): Uint8Array<ArrayBuffer> | null {
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(s)) return null;
  const b64 = s.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - s.length % 4) % 4);
  try {
    return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

async function hmacKey(raw: Uint8Array<ArrayBuffer>): Promise<CryptoKey> {
  return await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
    "verify",
  ]);
}

export class UrlSigner {
  readonly #key: CryptoKey;

  private constructor(key: CryptoKey) {
    this.#key = key;
  }

  /** A signer whose key is HMAC(secret, purpose label): separate from the token keys. */
  static async fromSecret(secret: string): Promise<UrlSigner> {
    const master = await hmacKey(enc.encode(secret));
    const derived = await crypto.subtle.sign("HMAC", master, enc.encode("attachment-links-v1"));
    return new UrlSigner(await hmacKey(new Uint8Array(derived)));
  }

  async sign(id: string, expS: number): Promise<string> {
    return base64url(await crypto.subtle.sign("HMAC", this.#key, enc.encode(`${id}|${expS}`)));
  }

  /** Whether `sig` was made by {@link sign} for this id and expiry (constant-time compare). */
  async verify(id: string, expS: number, sig: string): Promise<boolean> {
    const bytes = fromBase64url(sig);
    // Only the canonical spelling: the last character of 32 bytes in base64 carries two unused
    // bits, and `atob` ignores them, so "…A" and "…B" would otherwise both pass.
    if (!bytes || bytes.length !== 32 || base64url(bytes.buffer) !== sig) return false;
    return await crypto.subtle.verify("HMAC", this.#key, bytes, enc.encode(`${id}|${expS}`));
  }
}
