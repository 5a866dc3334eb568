/**
 * Staff tokens issued by an external identity provider (Keycloak, Auth0, Okta, Azure AD, Google):
 * RS256/ES256 JWTs whose public keys are published at a JWKS URL and rotated. `jose` does all the
 * crypto, fetches and caches the key set (refetching on an unknown `kid`), and checks `iss`, `aud`,
 * `exp` and `nbf`. This file configures it, adds what this service needs on top (a cap on token
 * lifetime, the shape of `sub`, mapping the IdP's roles onto ours) and maps jose's errors onto our
 * codes: a token problem is `unauthorized`; a key set we cannot fetch or read is `unavailable`
 * (retryable, not the caller's fault).
 *
 * Several roles: the IdP may grant one person several of our roles (an admin usually also sits in
 * the operators' group). Group membership in an IdP adds rights, so we take the most privileged
 * one: admin (everything, including routing other staff) > lawyer (an explicit grant to the
 * separate client–lawyer chats, the most sensitive conversations) > operator (the broad default
 * of the support team). Taking the least privileged would silently demote admins who are also
 * listed as operators.
 *
 * jose's key cache runs on the real clock (`Date.now()`); token times are checked against the
 * `nowMs` the caller passes, so the server's injected clock decides expiry.
 */
import {
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors,
  jwtVerify,
  type JWTVerifyGetKey,
} from "jose";
import { AppError } from "../errors.ts";
import type { JwtClaims } from "./jwt.ts";
import type { StaffRole } from "./principal.ts";

export interface IdpOptions {
  /** `https://idp.example/.well-known/jwks.json`; plain http only for loopback hosts. */
  readonly jwksUrl: string;
  /** `iss` must equal it. */
  readonly issuer: string;
  /** `aud` must contain one of them. */
  readonly audience: string | readonly string[];
  /** Default `["RS256", "ES256"]`; only asymmetric algorithms are accepted. */
  readonly algorithms?: readonly string[];
  /** Claim name, or dotted path into the claims, holding the role(s); default `"role"`. */
  readonly roleClaim?: string;
  /** IdP role names → ours; replaces the default identity map of operator, lawyer, admin. */
  readonly roleMap?: Readonly<Record<string, StaffRole>>;
  /** Claim name, or dotted path, holding the display name; default `"name"`. */
  readonly nameClaim?: string;
  /** Default 30. */
  readonly clockToleranceS?: number;
  /** Refuse tokens whose exp - iat (or exp - now without iat) exceeds this; default 24 h. */
  readonly maxLifetimeS?: number;
  /** JWKS request timeout; default 5000. */
  readonly fetchTimeoutMs?: number;
  /** Shortest time between two JWKS refetches on an unknown `kid`; default 30000. */
  readonly cooldownMs?: number;
  /** How long a fetched key set is used before it is fetched again; default 10 min. */
  readonly cacheMaxAgeMs?: number;
}

export const DEFAULT_IDP_ALGORITHMS: readonly string[] = ["RS256", "ES256"];

/** Algorithms verified with a published public key; never `none`, never HS* (shared secrets). */
const ASYMMETRIC = new Set([
  ...["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"],
  ...["ES256", "ES384", "ES512", "EdDSA", "Ed25519"],
]);
const RANK: Readonly<Record<StaffRole, number>> = { operator: 1, lawyer: 2, admin: 3 };
const IDENTITY: Readonly<Record<string, StaffRole>> = {
  operator: "operator",
  lawyer: "lawyer",
  admin: "admin",
};
/** Ids become storage keys: printable ASCII, no spaces. */
const SUBJECT = /^[\x21-\x7e]{1,128}$/;
const COMPACT = /^[\w-]+\.[\w-]+\.[\w-]*$/;
const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

/** Whether the unverified header names an algorithm of this verifier, so the token goes here. */
export function isIdpToken(
  token: string,
  algorithms: readonly string[] = DEFAULT_IDP_ALGORITHMS,
): boolean {
  if (token.split(".").length !== 3) return false;
  let alg: unknown;
  try {
    alg = decodeProtectedHeader(token).alg;
  } catch {
    return false;
  }
  return typeof alg === "string" && ASYMMETRIC.has(alg) && algorithms.includes(alg);
}

/**
 * Verifies an IdP token at `nowMs` (passed to jose as `currentDate`) and returns claims in the
 * shape the rest of the code uses. Throws AppError `unauthorized` or `unavailable`; throws a plain
 * Error at once when the options are not valid.
 */
export function createIdpVerifier(
  o: IdpOptions,
): (token: string, nowMs: number) => Promise<JwtClaims> {
  const algorithms = [...(o.algorithms ?? DEFAULT_IDP_ALGORITHMS)];
  if (algorithms.length === 0) throw new Error("algorithms must not be empty");
  for (const alg of algorithms) {
    if (!ASYMMETRIC.has(alg)) {
      throw new Error(`Algorithm ${alg} is not an asymmetric JWS algorithm`);
    }
  }
  const url = new URL(o.jwksUrl);
  if (url.protocol !== "https:" && !(url.protocol === "http:" && LOOPBACK.has(url.hostname))) {
    throw new Error("jwksUrl must be https (plain http only for loopback)");
  }
  if (o.issuer === "") throw new Error("issuer must not be empty");
  const audience = typeof o.audience === "string" ? [o.audience] : [...o.audience];
  if (audience.length === 0 || audience.includes("")) throw new Error("audience must be given");
  const roleClaim = o.roleClaim ?? "role";
  const nameClaim = o.nameClaim ?? "name";
  if (roleClaim === "" || nameClaim === "") throw new Error("Claim names must not be empty");
  const roleMap = o.roleMap ?? IDENTITY;
  for (const [idpRole, ours] of Object.entries(roleMap)) {
    if (!Object.hasOwn(RANK, ours)) throw new Error(`roleMap maps ${idpRole} to unknown ${ours}`);
  }
  const tolerance = duration(o.clockToleranceS ?? 30, "clockToleranceS");
  const maxLifetime = duration(o.maxLifetimeS ?? 86_400, "maxLifetimeS");
  const jwks = createRemoteJWKSet(url, {
    timeoutDuration: duration(o.fetchTimeoutMs ?? 5000, "fetchTimeoutMs", true),
    cooldownDuration: duration(o.cooldownMs ?? 30_000, "cooldownMs"),
    cacheMaxAge: duration(o.cacheMaxAgeMs ?? 600_000, "cacheMaxAgeMs"),
  });
  // Errors raised while finding the key are told apart from errors about the token itself.
  const getKey: JWTVerifyGetKey = async (header, token) => {
    let key: Awaited<ReturnType<typeof jwks>>;
    try {
      key = await jwks(header, token);
    } catch (err) {
      throw keyError(err);
    }
    // jose refuses RSA keys under 2048 bits later with a bare TypeError; that is the IdP's fault.
    const { modulusLength } = key.algorithm as Partial<RsaHashedKeyAlgorithm>;
    if (modulusLength !== undefined && modulusLength < 2048) {
      throw new AppError("unavailable", "Identity provider key is too weak");
    }
    return key;
  };

  return async (token, nowMs) => {
    // jose resolves the key before it decodes the payload; junk must not cost a JWKS request.
    if (!COMPACT.test(token)) throw fail("Token is not a well-formed JWT");
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, getKey, {
        algorithms,
        issuer: o.issuer,
        audience,
        clockTolerance: tolerance,
        currentDate: new Date(nowMs),
        requiredClaims: ["exp"],
      }));
    } catch (err) {
      throw err instanceof AppError ? err : tokenError(err);
    }
    const nowS = Math.floor(nowMs / 1000);
    const exp = payload.exp as number; // jose checked that it is present and a number
    const iat = payload.iat as number | undefined; // jose checked that it is a number when present
    if (iat !== undefined && iat > nowS + tolerance) throw fail("Token was issued in the future");
    if (exp - (iat ?? nowS) > maxLifetime) throw fail("Token lifetime is too long");
    const sub = payload.sub;
    if (sub === undefined) throw fail("Token has no subject");
    if (typeof sub !== "string" || !SUBJECT.test(sub)) throw fail("Token subject is not valid");
    const role = pickRole(readClaim(payload, roleClaim), roleMap);
    if (role === undefined) throw fail("Token has no staff role");

    const claims: JwtClaims = { sub, role, exp };
    if (iat !== undefined) claims.iat = iat;
    if (typeof payload.nbf === "number") claims.nbf = payload.nbf;
    if (typeof payload.iss === "string") claims.iss = payload.iss;
    const name = readClaim(payload, nameClaim);
    if (typeof name === "string") claims.name = name;
    return claims;
  };
}

/** The whole string as one claim name first (Auth0's URL claims), then as a dotted path. */
function readClaim(claims: Record<string, unknown>, path: string): unknown {
  if (Object.hasOwn(claims, path)) return claims[path];
  let node: unknown = claims;
  for (const key of path.split(".")) {
    if (typeof node !== "object" || node === null || Array.isArray(node)) return undefined;
    if (!Object.hasOwn(node, key)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

/** The most privileged of our roles that the claim's value(s) map to. */
function pickRole(value: unknown, roleMap: Readonly<Record<string, StaffRole>>) {
  const values = typeof value === "string" ? [value] : Array.isArray(value) ? value : [];
  let best: StaffRole | undefined;
  for (const v of values) {
    if (typeof v !== "string" || !Object.hasOwn(roleMap, v)) continue;
    const role = roleMap[v];
    if (best === undefined || RANK[role] > RANK[best]) best = role;
  }
  return best;
}

/** An error from resolving the key: an unknown key is the token's fault, the rest the IdP's. */
function keyError(err: unknown): AppError {
  if (err instanceof errors.JWKSNoMatchingKey) return fail("Token key is not known", err);
  if (err instanceof errors.JWKSMultipleMatchingKeys) {
    return fail("Token has no key id and several keys match", err);
  }
  const reason = err instanceof errors.JWKSTimeout
    ? "Identity provider keys timed out"
    : err instanceof errors.JWKSInvalid || err instanceof errors.JWKInvalid ||
        err instanceof errors.JOSENotSupported || err instanceof DOMException // import failed
    ? "Identity provider keys are not valid"
    : err instanceof errors.JOSEError // not 200 OK, or not JSON
    ? "Identity provider keys could not be read"
    : "Identity provider keys could not be fetched"; // network error
  return new AppError("unavailable", reason, { cause: err });
}

/** An error from jose about the token itself. */
function tokenError(err: unknown): AppError {
  if (err instanceof errors.JOSEAlgNotAllowed) return fail("Token algorithm is not allowed", err);
  if (err instanceof errors.JWTExpired) return fail("Token has expired", err);
  if (err instanceof errors.JWTClaimValidationFailed) {
    const reason = {
      iss: "Token issuer is not accepted",
      aud: "Token audience is not accepted",
      nbf: "Token is not valid yet",
      exp: "Token has no valid expiry",
      iat: "Token issue time is not valid",
    }[err.claim] ?? "Token claims are not valid";
    return fail(reason, err);
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) {
    return fail("Token signature is not valid", err);
  }
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) {
    return fail("Token is not a well-formed JWT", err);
  }
  if (err instanceof errors.JOSENotSupported) return fail("Token algorithm is not supported", err);
  return fail("Token could not be verified", err); // e.g. an RSA key under 2048 bits
}

function fail(reason: string, cause?: unknown): AppError {
  return new AppError("unauthorized", reason, cause === undefined ? undefined : { cause });
}

function duration(value: number, name: string, integer = false): number {
  if (!Number.isFinite(value) || value < 0 || (integer && !Number.isInteger(value))) {
    throw new RangeError(`${name} must be a non-negative ${integer ? "integer" : "number"}`);
  }
  return value;
}
