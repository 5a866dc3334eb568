/**
 * HS256 JSON Web Tokens for staff, signed and verified with WebCrypto (HMAC SHA-256).
 * No dependency; only the claims this service needs are checked.
 */
import { AppError } from "../errors.ts";
import { base64urlDecode, base64urlEncode, hmacKey } from "../util/crypto.ts";
import { isValidId, type StaffRole } from "./principal.ts";

// The byte and HMAC helpers live in src/util/crypto.ts; these names stay for their importers.
export { base64urlDecode, base64urlEncode, hmacKey } from "../util/crypto.ts";

/** The claims of a staff token. Times are seconds since epoch, as in RFC 7519. */
export interface JwtClaims {
  sub: string;
  role: StaffRole;
  exp: number;
  name?: string;
  iat?: number;
  nbf?: number;
  [claim: string]: unknown;
}

export const STAFF_ROLES: readonly StaffRole[] = ["operator", "lawyer", "admin"];

export function isStaffRole(value: unknown): value is StaffRole {
  return typeof value === "string" && (STAFF_ROLES as readonly string[]).includes(value);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });
const HEADER = base64urlEncode(encoder.encode(JSON.stringify({ alg: "HS256", typ: "JWT" })));

/** Signs claims as an HS256 JWT. */
export async function signJwt(claims: JwtClaims, secret: string): Promise<string> {
  const input = `${HEADER}.${base64urlEncode(encoder.encode(JSON.stringify(claims)))}`;
  const sig = await crypto.subtle.sign("HMAC", await hmacKey(secret), encoder.encode(input));
  return `${input}.${base64urlEncode(new Uint8Array(sig))}`;
}

/** Verifies an HS256 JWT at `nowMs` and returns its claims; throws AppError("unauthorized"). */
export async function verifyJwt(token: string, secret: string, nowMs: number): Promise<JwtClaims> {
  const parts = token.split(".");
  if (parts.length !== 3) throw fail("Token is not a well-formed JWT");
  const [headerPart, payloadPart, sigPart] = parts;
  const header = decodeJson(headerPart, "Token header is not valid");
  if (header.alg !== "HS256") throw fail("Token algorithm must be HS256");
  if (header.typ !== undefined && header.typ !== "JWT") throw fail("Token type must be JWT");
  const sig = base64urlDecode(sigPart);
  if (!sig) throw fail("Token signature is not valid");
  const input = encoder.encode(`${headerPart}.${payloadPart}`);
  if (!(await crypto.subtle.verify("HMAC", await hmacKey(secret), sig, input))) {
    throw fail("Token signature is not valid");
  }
  const claims = decodeJson(payloadPart, "Token payload is not valid");
  if (!isTime(claims.exp)) throw fail("Token has no valid expiry");
  if (nowMs >= claims.exp * 1000) throw fail("Token has expired");
  if (claims.nbf !== undefined) {
    if (!isTime(claims.nbf)) throw fail("Token not-before time is not valid");
    if (nowMs < claims.nbf * 1000) throw fail("Token is not valid yet");
  }
  if (typeof claims.sub !== "string" || claims.sub === "") throw fail("Token has no subject");
  if (!isValidId(claims.sub)) {
    throw fail("Token subject must be 1 to 128 printable ASCII characters without spaces");
  }
  if (!isStaffRole(claims.role)) throw fail("Token role is not valid");
  if (claims.name !== undefined && typeof claims.name !== "string") {
    throw fail("Token name is not valid");
  }
  return claims as JwtClaims;
}

function isTime(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value);
}

function decodeJson(part: string, reason: string): Record<string, unknown> {
  const bytes = base64urlDecode(part);
  if (!bytes) throw fail(reason);
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(bytes));
  } catch {
    throw fail(reason);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw fail(reason);
  return value as Record<string, unknown>;
}

function fail(reason: string): AppError {
  return new AppError("unauthorized", reason);
}
