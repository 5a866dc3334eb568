/**
 * Signed, expiring download links of the local store: `sig = HMAC-SHA256(key, "id|exp")`. The key
 * is derived from the engine's JWT secret, so every node of a cluster accepts every node's links
 * and no extra secret has to be configured; a link cannot be turned into a token or back.
 */
import {
  base64urlDecode,
  base64urlEncode,
  hmacSha256,
  importHmacKey,
  verifyHmacSha256,
} from "../../util/crypto.ts";

export class UrlSigner {
  readonly #key: CryptoKey;

  private constructor(key: CryptoKey) {
    this.#key = key;
  }

  /** A signer whose key is HMAC(secret, purpose label): separate from the token keys. */
  static async fromSecret(secret: string): Promise<UrlSigner> {
    const derived = await hmacSha256(secret, "attachment-links-v1");
    return new UrlSigner(await importHmacKey(derived));
  }

  async sign(id: string, expS: number): Promise<string> {
    return base64urlEncode(await hmacSha256(this.#key, `${id}|${expS}`));
  }

  /** Whether `sig` was made by {@link sign} for this id and expiry (constant-time compare). */
  async verify(id: string, expS: number, sig: string): Promise<boolean> {
    // Only the canonical spelling: the last character of 32 bytes in base64 carries two unused
    // bits that `atob` ignores, so "…A" and "…B" would otherwise both pass.
    const bytes = base64urlDecode(sig);
    if (bytes?.length !== 32) return false;
    return await verifyHmacSha256(this.#key, `${id}|${expS}`, bytes);
  }
}
