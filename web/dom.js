// @ts-check
/** Small DOM and formatting helpers shared by the widget and the console. No innerHTML anywhere. */

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

/** "14:05" in the user's locale. */
export function fmtTime(/** @type {string | number | undefined} */ at) {
  if (at === undefined) return "";
  const d = new Date(at);
  return Number.isNaN(d.getTime())
    ? ""
    : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/** A short duration: "12 s", "3 min", "1 h 05 min". */
export function fmtDuration(/** @type {number} */ seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}

/**
 * The connection status line for a `ChatClient` state.
 * @param {{ status: string, transport: string, attempt: number }} st
 * @returns {{ text: string, tone: "ok" | "warn" | "bad" | "idle" }}
 */
export function connectionText(st) {
  // The status line's title explains it: the WebSocket failed, events come over SSE.
  const sse = st.transport === "sse" ? " · using SSE" : "";
  switch (st.status) {
    case "open":
      return { text: `Connected${sse}`, tone: sse ? "warn" : "ok" };
    case "connecting":
      return { text: "Connecting…", tone: "idle" };
    case "reconnecting":
      return { text: `Reconnecting…${sse}`, tone: "warn" };
    case "offline":
      return { text: "Offline · waiting for the network…", tone: "bad" };
    case "failed":
      return { text: "Session refused", tone: "bad" };
    default:
      return { text: "Disconnected", tone: "idle" };
  }
}

/** Keeps a scrolled list at the bottom when it was there before `mutate`. */
export function keepScrolledToBottom(
  /** @type {HTMLElement} */ list,
  /** @type {() => void} */ mutate,
) {
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  mutate();
  if (atBottom) list.scrollTop = list.scrollHeight;
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
