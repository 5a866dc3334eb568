// @ts-check
/**
 * Errors as the pages show them. REST calls go through {@link apiJson} / {@link apiFetch}, which
 * turn every failure into an {@link ApiError} with a code of docs/PROTOCOL.md's error table (or
 * `network` / `offline` when nothing came back), and {@link errorText} turns any error — an
 * `ApiError`, a `RequestError` from chat_client.js, a thrown `TypeError` — into a catalogue text
 * (`error.<code>`, shared with the console; `common.error.*` for the page's own). Raw texts such as "Failed to fetch", "Unexpected token '<'" or
 * "HTTP 502" never reach the page.
 */
import { fmtDuration, has, t } from "./i18n.js";

/** A failed request: `code` from the error table, `network`, or `offline`. */
export class ApiError extends Error {
  /**
   * @param {string} code
   * @param {{ status?: number, retryable?: boolean, retryAfterS?: number | null,
   *   message?: string }} [o]
   */
  constructor(code, o = {}) {
    super(o.message ?? code);
    this.name = "ApiError";
    this.code = code;
    this.status = o.status ?? 0;
    this.retryable = o.retryable ?? false;
    /** Seconds the server asked us to wait (`Retry-After`), or null. */
    this.retryAfterS = o.retryAfterS ?? null;
  }
}

/** `Retry-After` as seconds: a number of seconds or an HTTP date; null when absent or unreadable. */
export function retryAfterSeconds(
  /** @type {string | null} */ value,
  now = Date.now(),
) {
  if (!value) return null;
  const s = value.trim();
  if (/^\d+$/.test(s)) return Number(s);
  const at = Date.parse(s);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - now) / 1000));
}

/** The code for an HTTP status when the body named none (a proxy's HTML page, say). */
function codeOfStatus(/** @type {number} */ status) {
  if (status === 401) return "unauthorized";
  if (status === 403) return "forbidden";
  if (status === 404) return "not_found";
  if (status === 413) return "body_too_large";
  if (status === 429) return "rate_limited";
  if (status === 502 || status === 503) return "unavailable";
  if (status === 504) return "timeout";
  return status >= 500 ? "internal" : "invalid_payload";
}

/**
 * `fetch` that resolves only with a successful response; anything else rejects with an
 * {@link ApiError}: the server's `{ error: { code, retryable } }`, the status's code when the body
 * is not ours, `offline`/`network` when no answer came.
 * @param {string} url @param {RequestInit} [init] @returns {Promise<Response>}
 */
export async function apiFetch(url, init = {}) {
  /** @type {Response} */
  let res;
  try {
    res = await fetch(url, init);
  } catch {
    throw new ApiError(navigator.onLine === false ? "offline" : "network", { retryable: true });
  }
  if (res.ok) return res;
  const text = await res.text().catch(() => "");
  /** @type {any} */
  let body = null;
  try {
    body = JSON.parse(text);
  } catch { /* not ours: an HTML error page of a proxy */ }
  const e = body?.error;
  const code = typeof e?.code === "string" ? e.code : codeOfStatus(res.status);
  throw new ApiError(code, {
    status: res.status,
    retryable: typeof e?.retryable === "boolean" ? e.retryable : res.status >= 500 ||
      res.status === 429,
    retryAfterS: retryAfterSeconds(res.headers.get("retry-after")),
    ...(typeof e?.message === "string" ? { message: e.message } : {}),
  });
}

/** {@link apiFetch} and the JSON body; a body that is not JSON is `unavailable`. */
export async function apiJson(/** @type {string} */ url, /** @type {RequestInit} */ init = {}) {
  const res = await apiFetch(url, init);
  try {
    return await res.json();
  } catch {
    throw new ApiError("unavailable", { status: res.status, retryable: true });
  }
}

/**
 * The error code of anything thrown: an `ApiError`'s, an error frame's (`RequestError.frame`),
 * `network` for a lost connection or a failed fetch, `timeout` for a request that got no answer.
 * @param {unknown} err
 * @returns {string}
 */
export function errorCode(err) {
  const e = /** @type {any} */ (err);
  if (e instanceof ApiError) return e.code;
  const frameCode = e?.frame?.payload?.code;
  if (typeof frameCode === "string") return frameCode;
  if (typeof e?.code === "string") return e.code;
  if (e?.message === "timeout") return "timeout";
  if (navigator.onLine === false) return "offline";
  return "network";
}

/** Codes of the page's own (no answer came): `common.error.<code>`; the server's: `error.<code>`. */
const LOCAL = new Set(["network", "offline"]);

/** The text to show for an error: the catalogue's for its code, then when to try again. */
export function errorText(/** @type {unknown} */ err) {
  const code = errorCode(err);
  const text = LOCAL.has(code)
    ? t(`common.error.${code}`)
    : has(`error.${code}`)
    ? t(`error.${code}`)
    : t("common.error.generic");
  const wait = err instanceof ApiError ? err.retryAfterS : null;
  return wait ? `${text} ${t("common.error.retry_in", { time: fmtDuration(wait) })}` : text;
}
