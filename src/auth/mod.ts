/** Authentication: turns a staff JWT or a client token into a {@link Principal}. */
import { AppError } from "../errors.ts";
import {
  DEFAULT_CLIENT_TOKEN_TTL_MS,
  isClientToken,
  issueClientToken,
  verifyClientToken,
} from "./client_token.ts";
import { isStaffRole, type JwtClaims, signJwt, verifyJwt } from "./jwt.ts";
import { isValidId, type Principal, type StaffRole } from "./principal.ts";
import {
  DEFAULT_VISITOR_TOKEN_TTL_MS,
  issueVisitorToken,
  isVisitorToken,
  verifyVisitorToken,
} from "./visitor_token.ts";

export type { Principal, Role, StaffRole } from "./principal.ts";
export { DEFAULT_CLIENT_TOKEN_TTL_MS } from "./client_token.ts";
export { DEFAULT_VISITOR_TOKEN_TTL_MS } from "./visitor_token.ts";

/** Verifies a staff token from an identity provider (see `idp.ts`); null = HS256 only. */
export interface StaffVerifier {
  /** Whether the token is one this verifier handles (by its header's algorithm). */
  handles(token: string): boolean;
  verify(token: string, nowMs: number): Promise<JwtClaims>;
}

/** Fixed secret for local development only; never use it in production. */
export const DEV_SECRET = "dev-secret-change-me-not-for-production";
/** Verified tokens remembered (oldest forgotten first). */
const VERIFIED_CACHE_MAX = 10_000;

/** Shortest `JWT_SECRET` accepted. */
export const MIN_SECRET_LENGTH = 32;

/** Reads `JWT_SECRET`, falling back to {@link DEV_SECRET} when it is not set. */
export function resolveSecret(
  env: { get(key: string): string | undefined },
): { secret: string; isDevDefault: boolean } {
  const secret = env.get("JWT_SECRET");
  if (secret === undefined) return { secret: DEV_SECRET, isDevDefault: true };
  if (secret.length < MIN_SECRET_LENGTH) {
    throw new Error(
      `JWT_SECRET must be at least ${MIN_SECRET_LENGTH} characters (got ${secret.length})`,
    );
  }
  return { secret, isDevDefault: false };
}

export interface AuthenticatorOptions {
  secret: string;
  /** Lifetime of client tokens; defaults to 24 h. */
  clientTokenTtlMs?: number;
  /** Lifetime of visitor tokens; defaults to 30 days. */
  visitorTokenTtlMs?: number;
  /** Staff tokens from an identity provider (RS256/ES256 through JWKS). */
  idp?: StaffVerifier | null;
  /** Accept HS256 staff tokens under `secret` (development); default true. */
  hs256Staff?: boolean;
  clock: { now(): number };
}

export interface MintStaffTokenOptions {
  sub: string;
  role: StaffRole;
  name?: string;
  ttlSeconds: number;
}

export class Authenticator {
  readonly #secret: string;
  readonly #ttlMs: number;
  readonly #visitorTtlMs: number;
  readonly #idp: StaffVerifier | null;
  readonly #hs256Staff: boolean;
  readonly #clock: { now(): number };
  readonly #verified = new Map<string, Principal>();

  constructor(options: AuthenticatorOptions) {
    if (options.secret === "") throw new Error("Authenticator secret must not be empty");
    this.#secret = options.secret;
    this.#ttlMs = options.clientTokenTtlMs ?? DEFAULT_CLIENT_TOKEN_TTL_MS;
    if (!Number.isFinite(this.#ttlMs) || this.#ttlMs <= 0) {
      throw new RangeError("clientTokenTtlMs must be positive");
    }
    this.#visitorTtlMs = options.visitorTokenTtlMs ?? DEFAULT_VISITOR_TOKEN_TTL_MS;
    this.#idp = options.idp ?? null;
    this.#hs256Staff = options.hs256Staff ?? true;
    this.#clock = options.clock;
  }

  /**
   * Verifies either kind of token; throws AppError("unauthorized") when it is not valid. Tokens
   * that verified are remembered until they expire (bounded), so repeated requests with the same
   * token (SSE sends, REST polling) skip the HMAC; expiry is still checked on every use.
   */
  async authenticate(token: string | undefined | null): Promise<Principal> {
    if (token === undefined || token === null || token === "") {
      throw new AppError("unauthorized", "Token is missing");
    }
    const now = this.#clock.now();
    const cached = this.#verified.get(token);
    if (cached && cached.expiresAt > now) return cached;
    const principal = await this.#verify(token, now);
    if (this.#verified.size >= VERIFIED_CACHE_MAX) {
      this.#verified.delete(this.#verified.keys().next().value!);
    }
    this.#verified.set(token, principal);
    return principal;
  }

  async #verify(token: string, now: number): Promise<Principal> {
    if (isClientToken(token)) {
      const c = await verifyClientToken(token, this.#secret, now, this.#ttlMs);
      return {
        id: c.clientId,
        role: "client",
        scope: "chat",
        chatId: c.chatId,
        expiresAt: c.expiresAt,
      };
    }
    if (isVisitorToken(token)) {
      const v = await verifyVisitorToken(token, this.#secret, now, this.#visitorTtlMs);
      return { id: v.visitorId, role: "client", scope: "visitor", expiresAt: v.expiresAt };
    }
    let claims: JwtClaims;
    if (this.#idp?.handles(token)) claims = await this.#idp.verify(token, now);
    else if (this.#hs256Staff) claims = await verifyJwt(token, this.#secret, now);
    else throw new AppError("unauthorized", "Staff tokens must come from the identity provider");
    const principal: Principal = {
      id: claims.sub,
      role: claims.role,
      scope: "staff",
      expiresAt: claims.exp * 1000,
    };
    return claims.name === undefined ? principal : { ...principal, name: claims.name };
  }

  /** Issues a token that opens `chatId` for `clientId`. */
  issueClientToken(
    chatId: string,
    clientId: string,
  ): Promise<{ token: string; expiresAt: number }> {
    return issueClientToken({
      chatId,
      clientId,
      secret: this.#secret,
      nowMs: this.#clock.now(),
      ttlMs: this.#ttlMs,
    });
  }

  /** Issues a visitor token (the proof of a visitor's identity; see `visitor_token.ts`). */
  issueVisitorToken(visitorId: string): Promise<{ token: string; expiresAt: number }> {
    return issueVisitorToken(visitorId, this.#secret, this.#clock.now(), this.#visitorTtlMs);
  }

  /** Signs a staff JWT valid for `ttlSeconds` from now. */
  async mintStaffToken(options: MintStaffTokenOptions): Promise<string> {
    const { sub, role, name, ttlSeconds } = options;
    if (!isValidId(sub)) throw new Error("sub must be 1 to 128 printable ASCII characters");
    if (!isStaffRole(role)) throw new Error("role must be operator, lawyer or admin");
    if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0) {
      throw new RangeError("ttlSeconds must be positive");
    }
    const iat = Math.floor(this.#clock.now() / 1000);
    const claims: JwtClaims = { sub, role, iat, exp: iat + Math.ceil(ttlSeconds) };
    if (name !== undefined) claims.name = name;
    return await signJwt(claims, this.#secret);
  }
}
