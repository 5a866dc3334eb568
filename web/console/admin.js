// @ts-check
/** Admin panels: statistics and the operator roster, polled from the admin REST every 3 s. */
import { byId, fmtDuration, h } from "../dom.js";

/** @param {number | null | undefined} s */
const secs = (s) => (s === null || s === undefined ? "–" : fmtDuration(s));

/** @param {string} token @param {string} path */
async function get(token, path) {
  const res = await fetch(`/api/v1/chat/admin/${path}`, {
    headers: { authorization: `Bearer ${token}` },
    cache: "no-store",
  });
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return await res.json();
}

/** @param {any} s */
function renderStats(s) {
  const rows = [
    ["Waiting", s.queue_length],
    ["Active chats", s.active_chats],
    ["Average wait", secs(s.wait_avg_s)],
    ["90% wait under", secs(s.wait_p90_s)],
    ["Messages", s.messages_total],
    ["Chats created", s.chats_created],
    ["Chats closed", s.chats_closed],
    ["Connections", `${s.connections_total} (peak ${s.peak_connections})`],
  ];
  byId("stats").replaceChildren(
    ...rows.map(([k, v]) =>
      h("div", { class: "stat" }, h("dt", { text: String(k) }), h("dd", { text: String(v) }))
    ),
  );
}

/** @param {any[]} ops */
function renderOperators(ops) {
  const tbody = /** @type {HTMLElement} */ (byId("operators").querySelector("tbody"));
  const sorted = ops.slice().sort((a, b) => a.operator_id.localeCompare(b.operator_id));
  tbody.replaceChildren(...sorted.map((o) =>
    h(
      "tr",
      { dataset: { operatorId: o.operator_id } },
      h(
        "td",
        {},
        h("span", {
          class: `dot ${o.connected ? "on" : "off"}`,
          title: o.connected ? `${o.connections} connection(s)` : "not connected",
        }),
        h("span", { text: o.operator_id }),
        o.role !== "operator" && h("span", { class: "muted small", text: ` ${o.role}` }),
      ),
      h("td", {}, h("span", { class: `badge status-${o.status}`, text: o.status })),
      h("td", { text: `${o.open_chats}/${o.capacity}` }),
      h("td", {
        text: `${o.stats.chats_handled}${
          o.stats.rating_avg === null ? "" : ` · ★${o.stats.rating_avg.toFixed(1)}`
        }`,
      }),
    )
  ));
}

/**
 * Starts polling; returns a function that stops it.
 * @param {string} token @param {(message: string) => void} onError
 */
export function startAdmin(token, onError) {
  let stopped = false;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  const tick = async () => {
    try {
      const [stats, ops] = await Promise.all([get(token, "stats"), get(token, "operators")]);
      if (stopped) return;
      renderStats(stats);
      renderOperators(ops);
    } catch (err) {
      if (!stopped) onError(`Admin panels: ${/** @type {Error} */ (err).message}`);
    }
    if (!stopped) timer = setTimeout(tick, 3000);
  };
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
