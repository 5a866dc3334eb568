// @ts-check
/** Small DOM and formatting helpers shared by the widget and the console. No innerHTML anywhere. */
import { t } from "./i18n.js";

/**
 * Creates an element. `props`: `class`, `text`, `dataset`, `on` (event handlers), attributes
 * (`hidden`, `disabled`, … as booleans), anything else is set as an attribute.
 * @param {string} tag
 * @param {Record<string, any>} [props]
 * @param {...(Node | string | null | undefined | false)} children
 * @returns {HTMLElement}
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "on") { for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn); }
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

/**
 * The element with this id (throws if the page lacks it: a broken page should fail loudly).
 * @template {HTMLElement} [T=HTMLElement]
 * @param {string} id
 * @returns {T}
 */
export function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing`);
  return /** @type {T} */ (el);
}

/** Shows or hides elements via the `hidden` attribute. */
export function show(/** @type {HTMLElement} */ el, visible = true) {
  el.hidden = !visible;
}

export { fmtDuration, fmtTime } from "./i18n.js";

/**
 * The connection status line for a `ChatClient` state.
 * @param {{ status: string, transport: string, attempt: number }} st
 * @returns {{ text: string, tone: "ok" | "warn" | "bad" | "idle" }}
 */
export function connectionText(st) {
  // The status line's title explains it: the WebSocket failed, events come over SSE.
  const sse = st.transport === "sse";
  switch (st.status) {
    case "open":
      return { text: sse ? t("conn.open_sse") : t("conn.open"), tone: sse ? "warn" : "ok" };
    case "connecting":
      return { text: t("conn.connecting"), tone: "idle" };
    case "reconnecting":
      return { text: sse ? t("conn.reconnecting_sse") : t("conn.reconnecting"), tone: "warn" };
    case "offline":
      return { text: t("conn.offline"), tone: "bad" };
    case "failed":
      return { text: t("conn.failed"), tone: "bad" };
    default:
      return { text: t("conn.closed"), tone: "idle" };
  }
}

/** Lists that follow their bottom: whether each was at the bottom when last looked at. */
const following = new WeakMap();
/** Where each list's last jump to its bottom left it (`scrollTop`). */
const jumpedTo = new WeakMap();

function jump(/** @type {HTMLElement} */ list) {
  list.scrollTop = list.scrollHeight;
  jumpedTo.set(list, list.scrollTop);
}

function atBottom(/** @type {HTMLElement} */ list) {
  return list.scrollHeight - list.scrollTop - list.clientHeight < 40;
}

/**
 * Makes `list` follow its newest content while the reader is at the bottom: new rows, and rows
 * that grow later (an image's thumbnail loads after its row was added, which is what left the
 * conversation stuck 126–487 px above the newest messages). The reader scrolling up stops the
 * following; scrolling back to the bottom resumes it. Idempotent.
 * @param {HTMLElement} list
 */
export function followBottom(list) {
  if (following.has(list)) return;
  following.set(list, atBottom(list));
  const settle = () => {
    if (following.get(list)) jump(list);
  };
  // Only the reader's scrolling changes this. A jump's own scroll event comes at the next frame,
  // and a row may have grown since (a thumbnail decoding): the list then looks scrolled up,
  // though it is where the jump left it. The reader scrolling up leaves it above that place.
  list.addEventListener("scroll", () => {
    const own = following.get(list) && list.scrollTop >= (jumpedTo.get(list) ?? Infinity) - 1;
    if (!own) following.set(list, atBottom(list));
  }, { passive: true });
  // `load` does not bubble, but it can be captured: images and videos growing their rows.
  list.addEventListener("load", settle, true);
  if (typeof ResizeObserver === "function") {
    const grow = new ResizeObserver(settle);
    const watch = (/** @type {Node} */ n) => {
      if (n instanceof Element) grow.observe(n);
    };
    for (const c of list.children) watch(c);
    new MutationObserver((records) => {
      for (const r of records) r.addedNodes.forEach(watch);
      settle();
    }).observe(list, { childList: true });
    // The list itself shrinking (a keyboard opening on a phone) keeps the newest in view.
    grow.observe(list);
  }
}

/** Keeps a scrolled list at the bottom when it was there before `mutate` (and after: see followBottom). */
export function keepScrolledToBottom(
  /** @type {HTMLElement} */ list,
  /** @type {() => void} */ mutate,
) {
  const known = following.has(list);
  const stick = known ? following.get(list) || atBottom(list) : atBottom(list);
  mutate();
  followBottom(list);
  following.set(list, stick);
  if (stick) jump(list);
}

/**
 * Whether the message at `seqs[i]` ends a run: the next shown event is not a message of the
 * same sender within two minutes. Only a run's last message shows its time.
 * @param {Map<number, { type: string, payload: Record<string, any> }>} events
 * @param {number[]} seqs sorted
 * @param {number} i
 * @param {Set<string>} hidden event types that are not shown
 */
export function endsRun(events, seqs, i, hidden) {
  const f = events.get(seqs[i]);
  for (let j = i + 1; j < seqs.length; j++) {
    const next = events.get(seqs[j]);
    if (!f || !next || hidden.has(next.type)) continue;
    return next.type !== "message" || next.payload.sender_id !== f.payload.sender_id ||
      Date.parse(next.payload.timestamp) - Date.parse(f.payload.timestamp) > 120_000;
  }
  return true;
}

/**
 * `localStorage` when the page may use it; else `sessionStorage`; else memory. Third-party
 * iframes (the embedded widget) are often denied storage: the chat then lasts as long as the page.
 * @returns {Storage}
 */
export function safeStorage() {
  for (const name of /** @type {const} */ (["localStorage", "sessionStorage"])) {
    try {
      const s = globalThis[name];
      s.setItem("supportchat.probe", "1");
      s.removeItem("supportchat.probe");
      return s;
    } catch { /* denied: try the next */ }
  }
  const m = new Map();
  return /** @type {Storage} */ ({
    get length() {
      return m.size;
    },
    key: (i) => [...m.keys()][i] ?? null,
    getItem: (k) => m.get(k) ?? null,
    setItem: (k, v) => void m.set(k, String(v)),
    removeItem: (k) => void m.delete(k),
    clear: () => m.clear(),
  });
}
