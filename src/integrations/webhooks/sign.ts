/**
 * Webhook signatures: `X-Chat-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>`. Receivers
 * recompute it over the bytes they received (before parsing) and compare in constant time;
 * {@link verifySignature} is what they can copy.
 */
import { toHex } from "./events.ts";

export const SIGNATURE_HEADER = "X-Chat-Signature";

async function hmac(secret: string, body: string): Promise<Uint8Array> {
  const enc = new TextEncoder();
  const key = await crypto.subtle.importKey(
    "raw",
    enc.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return new Uint8Array(await crypto.subtle.sign("HMAC", key, enc.encode(body)));
}

/** The header value for `body` signed with `secret`. */
export async function signBody(secret: string, body: string): Promise<string> {
  return `sha256=${toHex(await hmac(secret, body))}`;
}

/** True if `header` is the signature of `body` under `secret` (constant-time comparison). */
export async function verifySignature(
  secret: string,
  body: string,
  header: string | null,
): Promise<boolean> {
  if (!header) return false;
  const expected = await signBody(secret, body);
  if (header.length !== expected.length) return false;
  let diff = 0;
  for (let i = 0; i < expected.length; i++) diff |= expected.charCodeAt(i) ^ header.charCodeAt(i);
  return diff === 0;
}

/** A fresh secret for a subscription that did not bring one (32 random bytes). */
export function newSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return `whsec_${toHex(bytes)}`;
}
