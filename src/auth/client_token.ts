/**
 * Chat tokens ("client tokens"): each opens exactly one chat for one client.
 * Format (see `_signed_token.ts`): `c1.<base64url(chatId)>.<base64url(clientId)>.<issuedAt>.<sig>`,
 * signed under the domain `client-token-v1\n`.
 */
import { issueSigned, type TokenKind, verifySigned } from "./_signed_token.ts";

export { MAX_TOKEN_SKEW_MS as MAX_CLIENT_TOKEN_SKEW_MS } from "./_signed_token.ts";

export const CLIENT_TOKEN_PREFIX = "c1.";
export const DEFAULT_CLIENT_TOKEN_TTL_MS = 24 * 60 * 60 * 1000;

const KIND: TokenKind = {
  prefix: "c1",
  domain: "client-token-v1\n",
  label: "Client token",
  fields: 2,
};

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
export function issueClientToken(
  options: IssueClientTokenOptions,
): Promise<{ token: string; expiresAt: number }> {
  const { chatId, clientId, secret, nowMs } = options;
  return issueSigned(
    KIND,
    [chatId, clientId],
    secret,
    nowMs,
    options.ttlMs ?? DEFAULT_CLIENT_TOKEN_TTL_MS,
  );
}

/** Verifies a client token at `nowMs`; throws AppError("unauthorized") with the reason. */
export async function verifyClientToken(
  token: string,
  secret: string,
  nowMs: number,
  ttlMs: number = DEFAULT_CLIENT_TOKEN_TTL_MS,
): Promise<ClientTokenClaims> {
  const v = await verifySigned(KIND, token, secret, nowMs, ttlMs);
  const [chatId, clientId] = v.fields;
  return { chatId, clientId, issuedAt: v.issuedAt, expiresAt: v.expiresAt };
}

/** Whether a token looks like a client token rather than a staff JWT. */
export function isClientToken(token: string): boolean {
  return token.startsWith(CLIENT_TOKEN_PREFIX);
}
