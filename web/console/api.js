// @ts-check
/**
 * The console's REST calls: one `api()` that sends the staff token, decodes the JSON and turns a
 * refusal into an {@link ApiError} with the server's code; `errorText()` says it in the reader's
 * language (the catalogue's `error.<code>`, else the server's own message).
 */
import { has, t } from "../i18n.js";

export class ApiError extends Error {
  /**
   * @param {string} code the server's error code (`invalid_payload`, …) or `network`
   * @param {string} message the server's message (English)
   * @param {number} status HTTP status (0: no answer)
   */
  constructor(code, message, status) {
    super(message);
    this.code = code;
    this.status = status;
  }

  /**
   * For `invalid_payload`: the fields the server named, with its message for each
   * (`Invalid body: url: not a URL; events: …`).
   * @returns {Map<string, string>}
   */
  get fields() {
    const out = new Map();
    if (this.code !== "invalid_payload") return out;
    const body = this.message.replace(/^Invalid [^:]+:\s*/, "");
    for (const part of body.split(/;\s*/)) {
      const m = /^([\w.]+): (.+)$/.exec(part);
      if (m) out.set(m[1].split(".")[0], m[2]);
    }
    return out;
  }
}

/** The token REST calls use (set at sign-in). */
let current = "";

export function setToken(/** @type {string} */ token) {
  current = token;
}

export function token() {
  return current;
}

/**
 * Calls the REST API under `/api/v1/chat/`; resolves with the decoded JSON (null for 204).
 * @param {string} path e.g. `admin/operators`
 * @param {{ method?: string, body?: unknown, query?: Record<string, string | undefined> }} [o]
 */
export async function api(path, o = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(o.query ?? {})) if (v !== undefined && v !== "") q.set(k, v);
  const url = `/api/v1/chat/${path}${q.size ? `?${q}` : ""}`;
  /** @type {Record<string, string>} */
  const headers = { authorization: `Bearer ${current}` };
  if (o.body !== undefined) headers["content-type"] = "application/json";
  let res;
  try {
    res = await fetch(url, {
      method: o.method ?? "GET",
      headers,
      cache: "no-store",
      ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}),
    });
  } catch {
    throw new ApiError("network", "The server could not be reached", 0);
  }
  if (res.status === 204) return null;
  const body = await res.json().catch(() => null);
  if (!res.ok) {
    const e = body?.error;
    throw new ApiError(
      e?.code ?? `http_${res.status}`,
      e?.message ?? `HTTP ${res.status}`,
      res.status,
    );
  }
  return body;
}

/** A refusal or failure in the reader's language. */
export function errorText(/** @type {unknown} */ err) {
  const e = /** @type {any} */ (err);
  // A request the client gave up on (no answer in time) reads as the server's `timeout`.
  const code = e?.code ?? e?.frame?.payload?.code ?? (e?.message === "timeout" ? "timeout" : null);
  if (code === "network") return t("console.error.network");
  if (typeof code === "string" && has(`error.${code}`)) return t(`error.${code}`);
  if (e?.message === "not connected" || e?.message === "disconnected") {
    return t("console.error.offline");
  }
  return t("console.error.unknown", { detail: String(e?.message ?? err) });
}

/** Every page of a chat's history (stored events as frames). */
export async function fullHistory(/** @type {string} */ chatId) {
  /** @type {any[]} */
  const out = [];
  let after = 0;
  for (let i = 0; i < 40; i++) {
    const page = await api(`chats/${encodeURIComponent(chatId)}/history`, {
      query: { after_seq: String(after), limit: "500" },
    });
    out.push(...page.events);
    if (!page.has_more) break;
    after = page.next_after_seq;
  }
  return out;
}
