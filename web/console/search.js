// @ts-check
/**
 * Search over every conversation the operator may see (`GET /api/v1/chat/search`): words in
 * Russian or English (any word form), filters by status, operator, label and dates; results
 * with the best matching message as a snippet, its matched words highlighted (`<mark>`, from the
 * server's offsets, never HTML); a click opens the chat, read-only when it is not this
 * operator's (a closed chat, a colleague's).
 */
import { byId, h, show } from "../dom.js";
import { fmtDate, fmtNumber, lang, onLanguageChange, t } from "../i18n.js";
import { api, errorText } from "./api.js";
import { visitorName } from "./channel.js";
import { known, label, roster } from "./roster.js";

/**
 * @typedef {{ chat_id: string, kind: string, status: string, client_id: string,
 *   client_name: string | null, operator_id: string | null, labels: string[],
 *   title: string | null, messages: number, rating: number | null, created_at: string,
 *   closed_at: string | null, snippet: { text: string, highlights: Array<[number, number]>,
 *   seq: number | null } | null }} Result
 */

/** The snippet's text with its highlighted ranges as `<mark>`. */
export function highlighted(/** @type {Result["snippet"]} */ s) {
  if (!s) return [];
  /** @type {(Node | string)[]} */
  const out = [];
  let at = 0;
  for (const [from, to] of [...s.highlights].sort((a, b) => a[0] - b[0])) {
    if (from < at) continue;
    out.push(s.text.slice(at, from), h("mark", { text: s.text.slice(from, to) }));
    at = to;
  }
  out.push(s.text.slice(at));
  return out;
}

/** A status as the search shows it. */
const statusText = (/** @type {string} */ s) =>
  ["bot", "queued", "assigned", "closed", "none"].includes(s) ? t(`console.search.is_${s}`) : s;

/** @param {{ open(chatId: string, found: Result): void }} act */
export function installSearch(act) {
  const form = /** @type {HTMLFormElement} */ (byId("search-form"));
  const list = byId("search-results");
  const status = byId("search-status-line");
  const more = /** @type {HTMLButtonElement} */ (byId("search-more"));
  const field = (/** @type {string} */ id) =>
    /** @type {HTMLInputElement} */ (byId(id)).value.trim();
  /** @type {string | null} */
  let cursor = null;
  let asked = 0;
  /** @type {Result[]} */
  let shown = [];

  async function fillOperators() {
    const select = /** @type {HTMLSelectElement} */ (byId("search-operator"));
    const list = await roster().catch(() => []);
    const keep = select.value;
    select.replaceChildren(
      h("option", { value: "", text: t("console.search.any") }),
      ...list.filter((e) => e.role !== "admin").map((e) =>
        h("option", { value: e.operator_id, text: label(e) })
      ),
    );
    select.value = keep;
  }

  const nameOf = (/** @type {string} */ id) => {
    const e = known().find((x) => x.operator_id === id);
    return e ? label(e) : id;
  };
  /** The status line's text, kept as a function so a language switch redraws it. */
  let line = () => "";

  function render() {
    status.textContent = line();
    list.replaceChildren(...shown.map((r) =>
      h(
        "li",
        { class: "result", dataset: { chatId: r.chat_id } },
        h(
          "button",
          { type: "button", class: "result-btn", on: { click: () => act.open(r.chat_id, r) } },
          h(
            "span",
            { class: "row-line" },
            h("strong", { text: visitorName(r.client_id, r.client_name ?? "") }),
            h("span", { class: `badge state-${r.status}`, text: statusText(r.status) }),
            r.kind === "lawyer" &&
              h("span", { class: "badge", text: t("console.chat.kind_lawyer") }),
            h("span", { class: "muted small when", text: fmtDate(r.created_at) }),
          ),
          r.title && h("span", { class: "small chat-item-title", text: r.title }),
          r.snippet && h("span", { class: "snippet" }, ...highlighted(r.snippet)),
          h(
            "span",
            { class: "muted small" },
            t("console.search.meta", {
              messages: fmtNumber(r.messages),
              operator: r.operator_id ? nameOf(r.operator_id) : "—",
            }),
          ),
          r.labels.length > 0 &&
            h(
              "span",
              { class: "chips" },
              ...r.labels.map((l) => h("span", { class: "chip", text: l })),
            ),
        ),
      )
    ));
  }

  async function run(/** @type {boolean} */ next) {
    const mine = ++asked;
    if (!next) {
      cursor = null;
      shown = [];
    }
    line = () => t("console.search.searching");
    status.textContent = line();
    try {
      const answer = await api("search", {
        query: {
          q: field("search-q"),
          status: field("search-status"),
          operator_id: field("search-operator"),
          label: field("search-label"),
          from: field("search-from"),
          to: field("search-to"),
          limit: "20",
          cursor: next ? cursor ?? undefined : undefined,
        },
      });
      if (mine !== asked) return;
      shown = [...shown, ...answer.results];
      cursor = answer.next_cursor;
      const n = shown.length;
      line = () => n ? t("console.search.found", { count: n }) : t("console.search.nothing");
      render();
      show(more, !!cursor);
    } catch (err) {
      if (mine !== asked) return;
      line = () => t("console.search.failed", { reason: errorText(err) });
      status.textContent = line();
      show(more, false);
    }
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    run(false);
  });
  more.addEventListener("click", () => run(true));
  onLanguageChange(() => {
    render();
    if (!byId("view-search").hidden) fillOperators();
  });
  // The operator list is filled when the search is first looked at (and in each language).
  let filledFor = "";
  new MutationObserver(() => {
    if (!byId("view-search").hidden && filledFor !== lang()) {
      filledFor = lang();
      fillOperators();
      if (shown.length) render();
    }
  }).observe(byId("view-search"), { attributes: true, attributeFilter: ["hidden"] });
}
