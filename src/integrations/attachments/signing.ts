/**
 * Signed, expiring download links of the local store: `sig = HMAC-SHA256(key, "id|exp")`. The key
 * is derived from the engine's JWT secret, so every node of a cluster accepts every node's links
 * and no extra secret has to be configured; a link cannot be turned into a token or back.
 */

import { base64urlDecode, base64urlEncode } from "../../auth/jwt.ts";

const enc = new TextEncoder();

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
    const mac = await crypto.subtle.sign("HMAC", this.#key, enc.encode(`${id}|${expS}`));
    return base64urlEncode(new Uint8Array(mac));
  }

  /** Whether `sig` was made by {@link sign} for this id and expiry (constant-time compare). */
  async verify(id: string, expS: number, sig: string): Promise<boolean> {
    // Only the canonical spelling: the last character of 32 bytes in base64 carries two unused
    // bits that `atob` ignores, so "…A" and "…B" would otherwise both pass.
    const bytes = base64urlDecode(sig);
    if (bytes?.length !== 32) return false;
    return await crypto.subtle.verify("HMAC", this.#key, bytes, enc.encode(`${id}|${expS}`));
  }
}
