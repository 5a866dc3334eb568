/**
 * Identity verification for website visitors: a site that knows its users vouches for one, so
 * that person's chats follow them across devices. Two ways, both under the site's secret
 * (`IDENTITY_SECRET`, several comma-separated while rotating: all verify):
 *
 * - `user_hash`: hex HMAC SHA-256 of the user id (Intercom's `user_hash`, Chatwoot's
 *   `identifier_hash`); the site's backend computes it and puts it into the page.
 * - `identity_token`: a short HS256 JWT from the site's backend: `sub` the user id, `iat` and
 *   `exp` at most {@link MAX_IDENTITY_TOKEN_AGE_S} apart, optional `name`, `email` and
 *   `attributes` (trusted, unlike what the visitor types). Checked by `jose`.
 *
 * A vouched user becomes the visitor `u:<user id>`: the prefix keeps site ids apart from the ids
 * the server makes for anonymous visitors (`v-…`) and Telegram users (`tg-…`).
 */
import { errors as joseErrors, jwtVerify } from "jose";
import { AppError } from "../errors.ts";
import { hmacKey } from "./jwt.ts";

/** Longest lifetime of an identity token (its `exp` − `iat`), and its greatest accepted age. */
export const MAX_IDENTITY_TOKEN_AGE_S = 3600;
/** A site's user id: what the site calls the user (`sub`, `client_id`). */
export const SITE_USER_ID = /^[\w.:@|+-]{1,100}$/;

export interface VouchedVisitor {
  /** The visitor id: `u:<site user id>`. */
  readonly visitorId: string;
  readonly name?: string;
  readonly email?: string;
  readonly attributes?: Record<string, string>;
}

const encoder = new TextEncoder();

export function vouchedVisitorId(siteUserId: string): string {
  return `u:${siteUserId}`;
}

export class SiteIdentity {
  readonly #secrets: readonly string[];

  /** `secrets`: the first signs nothing here (the site signs); every one verifies. */
  constructor(secrets: readonly string[]) {
    if (secrets.length === 0) throw new Error("SiteIdentity needs at least one secret");
    this.#secrets = secrets;
  }

  /** Checks `user_hash` for `userId`; throws `unauthorized` when no secret produced it. */
  async verifyUserHash(userId: string, userHash: string): Promise<VouchedVisitor> {
    checkUserId(userId);
    const given = /^[0-9a-fA-F]{64}$/.test(userHash) ? hexBytes(userHash) : null;
    if (given) {
      for (const secret of this.#secrets) {
        const ok = await crypto.subtle.verify(
          "HMAC",
          await hmacKey(secret),
          given,
          encoder.encode(userId),
        );
        if (ok) return { visitorId: vouchedVisitorId(userId) };
      }
    }
    throw new AppError("unauthorized", "user_hash does not match client_id");
  }

  /** Verifies an identity token at `nowMs`; throws `unauthorized` with the reason. */
  async verifyToken(token: string, nowMs: number): Promise<VouchedVisitor> {
    let lastError: unknown = null;
    for (const secret of this.#secrets) {
      try {
        const { payload } = await jwtVerify(token, encoder.encode(secret), {
          algorithms: ["HS256"],
          currentDate: new Date(nowMs),
          maxTokenAge: MAX_IDENTITY_TOKEN_AGE_S,
          requiredClaims: ["sub", "iat", "exp"],
          clockTolerance: 30,
        });
        if (
          typeof payload.exp !== "number" || typeof payload.iat !== "number" ||
          payload.exp - payload.iat > MAX_IDENTITY_TOKEN_AGE_S
        ) {
          throw new AppError(
            "unauthorized",
            `identity_token must expire within ${MAX_IDENTITY_TOKEN_AGE_S} s of its iat`,
          );
        }
        checkUserId(payload.sub!);
        return {
          visitorId: vouchedVisitorId(payload.sub!),
          ...optionalText("name", payload.name, 100),
          ...optionalText("email", payload.email, 254),
          ...attributesOf(payload.attributes),
        };
      } catch (err) {
        if (err instanceof AppError) throw err;
        lastError = err;
        // A bad signature may be a rotated secret: try the next one. Anything else is final.
        if (!(err instanceof joseErrors.JWSSignatureVerificationFailed)) break;
      }
    }
    throw new AppError("unauthorized", `identity_token is not valid: ${reasonOf(lastError)}`);
  }
}

function checkUserId(userId: string): void {
  if (!SITE_USER_ID.test(userId)) {
    throw new AppError(
      "invalid_payload",
      "A site user id has 1 to 100 letters, digits and ._:@|+- only",
    );
  }
}

function hexBytes(hex: string): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

function optionalText(key: "name" | "email", value: unknown, max: number) {
  return typeof value === "string" && value.trim() !== "" && value.length <= max
    ? { [key]: value.trim() }
    : {};
}

/** Up to 20 string attributes from the token (longer or other values are dropped). */
function attributesOf(value: unknown): { attributes?: Record<string, string> } {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value).slice(0, 20)) {
    if (/^[\w.-]{1,40}$/.test(k) && (typeof v === "string" || typeof v === "number")) {
      out[k] = String(v).slice(0, 200);
    }
  }
  return Object.keys(out).length ? { attributes: out } : {};
}

function reasonOf(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return "it has expired";
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return "the signature is wrong";
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return "only HS256 is accepted";
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `claim ${err.claim} ${err.reason}`;
  return "it is malformed";
}
