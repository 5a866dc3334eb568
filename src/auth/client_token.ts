/**
 * Client tokens: each opens exactly one chat for one client.
 *
 * Format: `c1.<base64url(chatId)>.<base64url(clientId)>.<issuedAtSeconds>.<base64url(sig)>`,
 * where `sig` is HMAC SHA-256 over `client-token-v1\n` + the three middle fields joined by
 * dots. The prefix keeps this input apart from JWT signing input, so the staff secret can be
 * reused. Expiry is `issuedAt + ttlMs`, with the TTL set by the verifier.
 */
import { AppError } from "../errors.ts";
import { base64urlDecode, base64urlEncode, hmacKey } from "./jwt.ts";

export const CLIENT_TOKEN_PREFIX = "c1.";
export const DEFAULT_CLIENT_TOKEN_TTL_MS = 24 * 60 * 60 * 1000;
/** How far in the future an issue time may be, to allow for clock skew between servers. */
export const MAX_CLIENT_TOKEN_SKEW_MS = 60_000;

const DOMAIN = "client-token-v1\n";
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export interface IssueClientTokenOptions {
  chatId: string;
  clientId: string;
  secret: string;
  nowMs: number;
  ttlMs?: number;
}

export interface ClientTokenClaims {
  chatId: string;
  clientId: string;
  /** Issue time, ms since epoch (whole seconds). */
  issuedAt: number;
  /** Expiry, ms since epoch. */
  expiresAt: number;
}

/** Issues a token for one client in one chat. */
export async function issueClientToken(
  options: IssueClientTokenOptions,
): Promise<{ token: string; expiresAt: number }> {
  const { chatId, clientId, secret, nowMs } = options;
  const ttlMs = checkTtl(options.ttlMs ?? DEFAULT_CLIENT_TOKEN_TTL_MS);
  if (chatId === "" || clientId === "") throw new Error("chatId and clientId must not be empty");
  const issuedAtSeconds = Math.floor(nowMs / 1000);
  const body = [
    base64urlEncode(encoder.encode(chatId)),
    base64urlEncode(encoder.encode(clientId)),
    String(issuedAtSeconds),
  ].join(".");
  const sig = await crypto.subtle.sign("HMAC", await hmacKey(secret), signingInput(body));
  return {
    token: `${CLIENT_TOKEN_PREFIX}${body}.${base64urlEncode(new Uint8Array(sig))}`,
    expiresAt: issuedAtSeconds * 1000 + ttlMs,
  };
}

/** Verifies a client token at `nowMs`; throws AppError("unauthorized") with the reason. */
export async function verifyClientToken(
  token: string,
  secret: string,
  nowMs: number,
  ttlMs: number = DEFAULT_CLIENT_TOKEN_TTL_MS,
): Promise<ClientTokenClaims> {
  checkTtl(ttlMs);
  const parts = token.split(".");
  if (parts.length !== 5 || parts[0] !== "c1") throw fail("Client token is not well-formed");
  const [, chatPart, clientPart, issuedPart, sigPart] = parts;
  const sig = base64urlDecode(sigPart);
  if (!sig) throw fail("Client token signature is not valid");
  const body = `${chatPart}.${clientPart}.${issuedPart}`;
  if (!(await crypto.subtle.verify("HMAC", await hmacKey(secret), sig, signingInput(body)))) {
    throw fail("Client token signature is not valid");
  }
  const chatId = decodeText(chatPart);
  const clientId = decodeText(clientPart);
  if (!chatId || !clientId) throw fail("Client token is not well-formed");
  if (!/^(0|[1-9][0-9]{0,11})$/.test(issuedPart)) {
    throw fail("Client token issue time is not valid");
  }
  const issuedAt = Number(issuedPart) * 1000;
  if (issuedAt > nowMs + MAX_CLIENT_TOKEN_SKEW_MS) {
    throw fail("Client token is issued in the future");
  }
  const expiresAt = issuedAt + ttlMs;
  if (nowMs >= expiresAt) throw fail("Client token has expired");
  return { chatId, clientId, issuedAt, expiresAt };
}

/** Whether a token looks like a client token rather than a staff JWT. */
export function isClientToken(token: string): boolean {
  return token.startsWith(CLIENT_TOKEN_PREFIX);
}

function signingInput(body: string): Uint8Array<ArrayBuffer> {
  return encoder.encode(DOMAIN + body);
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

function fail(reason: string): AppError {
  return new AppError("unauthorized", reason);
}
