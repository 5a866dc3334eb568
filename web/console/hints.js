// @ts-check
/**
 * Reply suggestions in the console: a "Suggest" button by the reply box asks the hints REST
 * (`GET /api/v1/chat/chats/{id}/hints`) for the open chat, by default for the client's latest
 * question; a search box asks for anything else. Clicking a hint puts its text into the reply box
 * at the cursor, for the operator to edit and send. Self-contained: it adds its own elements.
 */
import { byId, h, show } from "../dom.js";
import { onLanguageChange, t } from "../i18n.js";
import { errorText } from "./api.js";

/** A hint's source as a badge. */
const sourceText = (/** @type {string} */ source) => t(`console.hints.source_${source}`);

/**
 * @typedef {{ source: "canned" | "knowledge" | "history", text: string, score: number,
 *   title?: string, id?: string }} Hint
 */

/** @param {() => string | null} token @param {() => string | null} activeChat */
export function installHints(token, activeChat) {
  const composer = byId("chat-composer");
  const reply = /** @type {HTMLTextAreaElement} */ (byId("chat-text"));
  const list = h("ul", { class: "hint-list", id: "hint-list" });
  const status = h("p", { class: "muted small", id: "hint-status", role: "status" });
  const search = /** @type {HTMLInputElement} */ (h("input", {
    type: "search",
    id: "hint-q",
    maxlength: 500,
  }));
  const close = h("button", { type: "button", class: "icon", text: "×" });
  const heading = h("strong");
  const panel = h(
    "section",
    { class: "hints", id: "hints", hidden: true },
    h("div", { class: "hints-head" }, heading, search, close),
    status,
    list,
  );
  const button = h("button", { type: "button", class: "small", id: "suggest-btn" });
  /** The status line's text, redrawn after a language switch. */
  let line = () => "";
  /** @type {{ hints: Hint[], query: string } | null} */
  let shownHints = null;
  function labels() {
    search.placeholder = t("console.hints.search");
    search.setAttribute("aria-label", t("console.hints.search_label"));
    close.title = t("console.dialog.close");
    close.setAttribute("aria-label", t("console.hints.close"));
    panel.setAttribute("aria-label", t("console.hints.title"));
    heading.textContent = t("console.hints.title");
    button.title = t("console.hints.button_hint");
    button.textContent = t("console.hints.button");
    status.textContent = line();
    if (shownHints) render(shownHints.hints, shownHints.query);
  }
  labels();
  onLanguageChange(labels);
  composer.before(panel);
  composer.querySelector("button[type=submit]")?.before(button);

  /** The chat the panel shows hints for; another chat hides it. */
  let shownFor = /** @type {string | null} */ (null);
  let asked = 0;

  async function ask(/** @type {string} */ q) {
    const chatId = activeChat();
    const tok = token();
    if (!chatId || !tok) return;
    const mine = ++asked;
    shownFor = chatId;
    show(panel);
    line = () => t("console.hints.looking");
    status.textContent = line();
    list.replaceChildren();
    try {
      const params = new URLSearchParams(q ? { q, limit: "5" } : { limit: "5" });
      const res = await fetch(`/api/v1/chat/chats/${encodeURIComponent(chatId)}/hints?${params}`, {
        headers: { authorization: `Bearer ${tok}` },
        cache: "no-store",
      });
      const body = await res.json();
      if (mine !== asked) return; // a newer request answers instead
      if (!res.ok) {
        throw Object.assign(new Error(body?.error?.message ?? `HTTP ${res.status}`), {
          code: body?.error?.code,
        });
      }
      render(body.hints, body.query);
    } catch (err) {
      if (mine === asked) {
        line = () => t("console.hints.failed", { reason: errorText(err) });
        status.textContent = line();
      }
    }
  }

  function render(/** @type {Hint[]} */ hints, /** @type {string} */ query) {
    shownHints = { hints, query };
    line = () =>
      hints.length
        ? t("console.hints.for", { query })
        : query
        ? t("console.hints.nothing", { query })
        : t("console.hints.no_question");
    status.textContent = line();
    list.replaceChildren(...hints.map((hint) =>
      h(
        "li",
        {},
        h(
          "button",
          {
            type: "button",
            class: "hint",
            dataset: { source: hint.source },
            title: t("console.hints.use"),
            on: { click: () => use(hint.text) },
          },
          h("span", {
            class: "badge",
            text: hint.title
              ? `${sourceText(hint.source)} · ${hint.title}`
              : sourceText(hint.source),
          }),
          h("span", { class: "hint-text", text: hint.text }),
        ),
      )
    ));
  }

  function use(/** @type {string} */ text) {
    reply.focus();
    reply.setRangeText(text, reply.selectionStart, reply.selectionEnd, "end");
    reply.dispatchEvent(new Event("input", { bubbles: true })); // typing, like a keystroke
    hide();
  }

  function hide() {
    shownFor = null;
    shownHints = null;
    asked++;
    show(panel, false);
  }

  button.addEventListener("click", () => ask(""));
  close.addEventListener("click", hide);
  search.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      ask(search.value.trim());
    }
    if (e.key === "Escape") hide();
  });
  // Opening another chat (the console keeps the open chat in the URL hash) hides the panel.
  addEventListener("hashchange", () => {
    if (shownFor && shownFor !== activeChat()) hide();
  });
}
