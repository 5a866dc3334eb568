// @ts-check
/**
 * Who is on staff (`GET /api/v1/chat/chats/operators`): names, roles, status and load, for the
 * pickers (transfer, assign a lawyer), @mentions in notes, the search filter and display names.
 * Fetched when asked and at most every few seconds.
 */
import { api } from "./api.js";

/**
 * @typedef {{ operator_id: string, name: string | null, role: "operator" | "lawyer" | "admin",
 *   status: "online" | "away" | "busy" | "offline", connected: boolean, open_chats: number,
 *   capacity: number | null, available: boolean }} StaffEntry
 */

/** @type {StaffEntry[]} */
let entries = [];
let fetchedAt = 0;
/** @type {Promise<StaffEntry[]> | null} */
let inflight = null;
/** @type {Set<(list: StaffEntry[]) => void>} */
const listeners = new Set();

/** The roster, fetched now unless it is younger than `maxAgeMs`. */
export function roster(maxAgeMs = 3000) {
  if (inflight) return inflight;
  if (Date.now() - fetchedAt < maxAgeMs) return Promise.resolve(entries);
  inflight = api("chats/operators").then((list) => {
    entries = /** @type {StaffEntry[]} */ (list);
    fetchedAt = Date.now();
    for (const fn of listeners) fn(entries);
    return entries;
  }).finally(() => (inflight = null));
  return inflight;
}

/** The roster as last fetched (possibly empty). */
export function known() {
  return entries;
}

/** Calls `fn` with every fresh roster. */
export function onRoster(/** @type {(list: StaffEntry[]) => void} */ fn) {
  listeners.add(fn);
}

/** A display name: the staff member's name, or their id. */
export function label(/** @type {StaffEntry} */ e) {
  return e.name || e.operator_id;
}
