/**
 * Webhook signatures: `X-Chat-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>`. Receivers
 * recompute it over the bytes they received (before parsing) and compare in constant time;
 * {@link verifySignature} is what they can copy.
 */
import { hmacSha256, timingSafeEqual, toHex } from "../../util/crypto.ts";

export const SIGNATURE_HEADER = "X-Chat-Signature";

/** The header value for `body` signed with `secret`. */
export async function signBody(secret: string, body: string): Promise<string> {
  return `sha256=${toHex(await hmacSha256(secret, body))}`;
}

/** True if `header` is the signature of `body` under `secret` (constant-time comparison). */
export async function verifySignature(
  secret: string,
  body: string,
  header: string | null,
): Promise<boolean> {
  if (!header) return false;
  return timingSafeEqual(header, await signBody(secret, body));
}

/** A fresh secret for a subscription that did not bring one (32 random bytes). */
export function newSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return `whsec_${toHex(bytes)}`;
}
