/**
 * The HMAC-signed tokens the server issues itself (chat tokens `c1.`, visitor tokens `v1.`):
 * `<prefix>.<base64url(field)>….<issuedAtSeconds>.<base64url(sig)>`, where `sig` is HMAC SHA-256
 * over a per-kind domain line + the fields and the issue time joined by dots. The domain keeps
 * each kind's input apart from the others and from JWT signing input, so one secret serves all.
 * Expiry is `issuedAt + ttl`, with the TTL set by the verifier.
 */
import { AppError } from "../errors.ts";
import { base64urlDecode, base64urlEncode, hmacKey } from "./jwt.ts";

/** How far in the future an issue time may be, to allow for clock skew between servers. */
export const MAX_TOKEN_SKEW_MS = 60_000;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export interface TokenKind {
  /** `c1`, `v1`: the first dot-separated part. */
  readonly prefix: string;
  /** Signing domain, e.g. `client-token-v1\n`. */
  readonly domain: string;
  /** How errors name it: "Client token". */
  readonly label: string;
  readonly fields: number;
}

export interface Verified {
  readonly fields: string[];
  /** Issue time, ms since epoch (whole seconds). */
  readonly issuedAt: number;
  readonly expiresAt: number;
}

export async function issueSigned(
  kind: TokenKind,
  fields: readonly string[],
  secret: string,
  nowMs: number,
  ttlMs: number,
): Promise<{ token: string; expiresAt: number }> {
  checkTtl(ttlMs);
  if (fields.length !== kind.fields || fields.some((f) => f === "")) {
    throw new Error(`${kind.label} fields must not be empty`);
  }
  const issuedAtSeconds = Math.floor(nowMs / 1000);
  const body = [...fields.map((f) => base64urlEncode(encoder.encode(f))), String(issuedAtSeconds)]
    .join(".");
  const sig = await crypto.subtle.sign("HMAC", await hmacKey(secret), input(kind, body));
  return {
    token: `${kind.prefix}.${body}.${base64urlEncode(new Uint8Array(sig))}`,
    expiresAt: issuedAtSeconds * 1000 + ttlMs,
  };
}

/** Verifies a token of `kind` at `nowMs`; throws AppError("unauthorized") with the reason. */
export async function verifySigned(
  kind: TokenKind,
  token: string,
  secret: string,
  nowMs: number,
  ttlMs: number,
): Promise<Verified> {
  checkTtl(ttlMs);
  const fail = (reason: string) => new AppError("unauthorized", `${kind.label} ${reason}`);
  const parts = token.split(".");
  if (parts.length !== kind.fields + 3 || parts[0] !== kind.prefix) {
    throw fail("is not well-formed");
  }
  const sig = base64urlDecode(parts[parts.length - 1]);
  if (!sig) throw fail("signature is not valid");
  const body = parts.slice(1, -1).join(".");
  if (!(await crypto.subtle.verify("HMAC", await hmacKey(secret), sig, input(kind, body)))) {
    throw fail("signature is not valid");
  }
  const fields = parts.slice(1, 1 + kind.fields).map(decodeText);
  if (fields.some((f) => !f)) throw fail("is not well-formed");
  const issuedPart = parts[kind.fields + 1];
  if (!/^(0|[1-9][0-9]{0,11})$/.test(issuedPart)) throw fail("issue time is not valid");
  const issuedAt = Number(issuedPart) * 1000;
  if (issuedAt > nowMs + MAX_TOKEN_SKEW_MS) throw fail("is issued in the future");
  const expiresAt = issuedAt + ttlMs;
  if (nowMs >= expiresAt) throw fail("has expired");
  return { fields: fields as string[], issuedAt, expiresAt };
}

function input(kind: TokenKind, body: string): Uint8Array<ArrayBuffer> {
  return encoder.encode(kind.domain + body);
}

function decodeText(part: string): string | undefined {
  const bytes = base64urlDecode(part);
  if (!bytes) return undefined;
  try {
    return decoder.decode(bytes);
  } catch {
    return undefined;
  }
}

function checkTtl(ttlMs: number): number {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new RangeError("ttlMs must be positive");
  return ttlMs;
}
