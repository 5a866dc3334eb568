/**
 * Visitor tokens: proof of a website visitor's identity, made by the server (an anonymous
 * visitor's server-made id, or a user the site vouched for). A visitor token lists the visitor's
 * chats (each with a chat token), starts more of them and updates the visitor's profile; it opens
 * no chat by itself. Format (see `_signed_token.ts`):
 * `v1.<base64url(visitorId)>.<issuedAt>.<sig>`, signed under the domain `visitor-token-v1\n`.
 */
import { issueSigned, type TokenKind, verifySigned } from "./_signed_token.ts";

export const VISITOR_TOKEN_PREFIX = "v1.";
export const DEFAULT_VISITOR_TOKEN_TTL_MS = 30 * 24 * 60 * 60 * 1000;

const KIND: TokenKind = {
  prefix: "v1",
  domain: "visitor-token-v1\n",
  label: "Visitor token",
  fields: 1,
};

export function issueVisitorToken(
  visitorId: string,
  secret: string,
  nowMs: number,
  ttlMs: number = DEFAULT_VISITOR_TOKEN_TTL_MS,
): Promise<{ token: string; expiresAt: number }> {
  return issueSigned(KIND, [visitorId], secret, nowMs, ttlMs);
}

/** Verifies a visitor token at `nowMs`; throws AppError("unauthorized") with the reason. */
export async function verifyVisitorToken(
  token: string,
  secret: string,
  nowMs: number,
  ttlMs: number = DEFAULT_VISITOR_TOKEN_TTL_MS,
): Promise<{ visitorId: string; issuedAt: number; expiresAt: number }> {
  const v = await verifySigned(KIND, token, secret, nowMs, ttlMs);
  return { visitorId: v.fields[0], issuedAt: v.issuedAt, expiresAt: v.expiresAt };
}

export function isVisitorToken(token: string): boolean {
  return token.startsWith(VISITOR_TOKEN_PREFIX);
}
