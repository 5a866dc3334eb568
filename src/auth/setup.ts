/**
 * Builds the authentication of a node from its configuration: the secret for HS256 staff tokens
 * and the server's own tokens, the identity provider for staff (JWKS), and the site's secret for
 * identity verification of visitors.
 */
import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import { SiteIdentity } from "./identity.ts";
import { createIdpVerifier, DEFAULT_IDP_ALGORITHMS, isIdpToken } from "./idp.ts";
import { Authenticator, MIN_SECRET_LENGTH, resolveSecret, type StaffVerifier } from "./mod.ts";
import type { StaffRole } from "./principal.ts";

export interface AuthSetup {
  readonly auth: Authenticator;
  readonly identity: SiteIdentity | null;
}

const ROLES: readonly StaffRole[] = ["operator", "lawyer", "admin"];

export function setUpAuth(
  config: Config,
  env: { get(key: string): string | undefined },
  clock: { now(): number },
  log: Logger,
): AuthSetup {
  const { secret, isDevDefault } = resolveSecret(env);
  if (isDevDefault) {
    log.warn(
      "JWT_SECRET is not set: using the built-in DEVELOPMENT secret. Anyone can mint tokens. " +
        "Set JWT_SECRET (32+ chars) before real use.",
    );
  }
  const idp = staffVerifier(config);
  const hs256Staff = config.STAFF_HS256 === "on" ||
    (config.STAFF_HS256 === "auto" && idp === null);
  if (idp && hs256Staff) {
    log.warn("STAFF_HS256=on: HS256 staff tokens are accepted beside the identity provider's");
  }
  const auth = new Authenticator({
    secret,
    clientTokenTtlMs: config.CLIENT_TOKEN_TTL_S * 1000,
    visitorTokenTtlMs: config.VISITOR_TOKEN_TTL_S * 1000,
    idp,
    hs256Staff,
    clock,
  });
  return { auth, identity: siteIdentity(config) };
}

/** `JWT_JWKS_URL` with its issuer and audience, or null. */
export function staffVerifier(config: Config): StaffVerifier | null {
  if (!config.JWT_JWKS_URL) return null;
  if (!config.JWT_ISSUER || !config.JWT_AUDIENCE) {
    throw new Error("JWT_JWKS_URL needs JWT_ISSUER and JWT_AUDIENCE");
  }
  const algorithms = list(config.JWT_ALGORITHMS);
  const verify = createIdpVerifier({
    jwksUrl: config.JWT_JWKS_URL,
    issuer: config.JWT_ISSUER,
    audience: list(config.JWT_AUDIENCE),
    algorithms: algorithms.length ? algorithms : DEFAULT_IDP_ALGORITHMS,
    roleClaim: config.JWT_ROLE_CLAIM,
    roleMap: roleMap(config.JWT_ROLE_MAP),
    nameClaim: config.JWT_NAME_CLAIM,
  });
  return { handles: (token) => isIdpToken(token, algorithms), verify };
}

/** `idp-role:ours,…` over the identity map of our own role names. */
export function roleMap(text: string): Record<string, StaffRole> {
  const map: Record<string, StaffRole> = Object.fromEntries(ROLES.map((r) => [r, r]));
  for (const entry of list(text)) {
    const at = entry.lastIndexOf(":");
    const ours = entry.slice(at + 1).trim() as StaffRole;
    if (at <= 0 || !ROLES.includes(ours)) {
      throw new Error(`JWT_ROLE_MAP entry "${entry}" must be idp-role:operator|lawyer|admin`);
    }
    map[entry.slice(0, at).trim()] = ours;
  }
  return map;
}

function siteIdentity(config: Config): SiteIdentity | null {
  const secrets = list(config.IDENTITY_SECRET ?? "");
  if (secrets.length === 0) return null;
  for (const s of secrets) {
    if (s.length < MIN_SECRET_LENGTH) {
      throw new Error(`Each IDENTITY_SECRET must be at least ${MIN_SECRET_LENGTH} characters`);
    }
  }
  return new SiteIdentity(secrets);
}

function list(text: string): string[] {
  return text.split(",").map((s) => s.trim()).filter(Boolean);
}
