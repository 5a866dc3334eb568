// @ts-check
/**
 * The console's views and its place in the URL's hash: `#view=inbox|search|stats|admin`,
 * `&chat=<id>` for the open chat, `&from=search` when it was opened from the search. The admin
 * and statistics views are built when first shown and poll only while shown.
 */
import { byId, show } from "../dom.js";
import { mountAdmin } from "./admin.js";
import { mountStats } from "./stats.js";

export const VIEWS = /** @type {const} */ (["inbox", "search", "stats", "admin"]);
/** @typedef {typeof VIEWS[number]} View */

/** @type {Map<string, { start(): void, stop(): void }>} */
const mounted = new Map();
/** @type {Set<(r: { view: View, chat: string | null }) => void>} */
const listeners = new Set();
/** @type {View | null} */
let current = null;

/** Calls `fn` after every change of place. */
export function onRoute(/** @type {(r: { view: View, chat: string | null }) => void} */ fn) {
  listeners.add(fn);
}

/** Goes to a view (and chat); the hash records it. */
export function route(/** @type {{ view: View, chat?: string | null, from?: string }} */ r) {
  const q = new URLSearchParams({ view: r.view });
  if (r.chat) q.set("chat", r.chat);
  if (r.from) q.set("from", r.from);
  const next = `#${q}`;
  if (location.hash !== next) location.hash = next;
  routed(); // now, not at the `hashchange` (focus may follow at once)
}

/** The hash last applied: its `hashchange` (after {@link route}) changes nothing. */
let applied = "";

/** Applies the hash: the view shown, the chat open. `force`: even if applied already. */
export function routed(force = true) {
  if (!force && location.hash === applied) return;
  applied = location.hash;
  const q = new URLSearchParams(location.hash.slice(1));
  const chat = q.get("chat");
  const asked = /** @type {View} */ (q.get("view") ?? (chat ? "inbox" : "inbox"));
  const admin = document.body.dataset.role === "admin";
  const view = VIEWS.includes(asked) && (admin || (asked !== "stats" && asked !== "admin"))
    ? asked
    : "inbox";
  showView(view);
  document.body.classList.toggle("from-search", q.get("from") === "search");
  for (const fn of listeners) fn({ view, chat: view === "inbox" ? chat : null });
}

/** Shows one view (null: none, signed out). */
export function showView(/** @type {View | null} */ view) {
  if (view === current) return;
  if (current) mounted.get(current)?.stop();
  current = view;
  for (const v of VIEWS) show(byId(`view-${v}`), v === view);
  for (const a of document.querySelectorAll("#views a[data-view]")) {
    const link = /** @type {HTMLElement} */ (a);
    if (link.dataset.view === view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.body.dataset.view = view ?? "";
  if (view === "admin" || view === "stats") {
    let m = mounted.get(view);
    if (!m) {
      m = view === "admin" ? mountAdmin(byId("view-admin")) : mountStats(byId("view-stats"));
      mounted.set(view, m);
    }
    m.start();
  }
}
