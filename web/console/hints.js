// @ts-check
/**
 * Reply suggestions in the console: a "Suggest" button by the reply box asks the hints REST
 * (`GET /api/v1/chat/chats/{id}/hints`) for the open chat, by default for the client's latest
 * question; a search box asks for anything else. Clicking a hint puts its text into the reply box
 * at the cursor, for the operator to edit and send. Self-contained: it adds its own elements.
 */
import { byId, h, show } from "../dom.js";

const SOURCE_TEXT = { canned: "Canned", knowledge: "Bot", history: "Past answer" };

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
    placeholder: "Search answers…",
    "aria-label": "Search suggested answers",
  }));
  const close = h("button", { type: "button", class: "icon", title: "Close", text: "×" });
  const panel = h(
    "section",
    { class: "hints", id: "hints", hidden: true, "aria-label": "Suggested replies" },
    h("div", { class: "hints-head" }, h("strong", { text: "Suggestions" }), search, close),
    status,
    list,
  );
  const button = h("button", {
    type: "button",
    class: "small",
    id: "suggest-btn",
    title: "Suggest replies to the client's last question",
    text: "Suggest",
  });
  composer.before(panel);
  composer.querySelector("button[type=submit]")?.before(button);

  /** The chat the panel shows hints for; another chat hides it. */
  let shownFor = /** @type {string | null} */ (null);
  let asked = 0;

  async function ask(/** @type {string} */ q) {
    const chatId = activeChat();
    const t = token();
    if (!chatId || !t) return;
    const mine = ++asked;
    shownFor = chatId;
    show(panel);
    status.textContent = "Looking…";
    list.replaceChildren();
    try {
      const params = new URLSearchParams(q ? { q, limit: "5" } : { limit: "5" });
      const res = await fetch(`/api/v1/chat/chats/${encodeURIComponent(chatId)}/hints?${params}`, {
        headers: { authorization: `Bearer ${t}` },
        cache: "no-store",
      });
      const body = await res.json();
      if (mine !== asked) return; // a newer request answers instead
      if (!res.ok) throw new Error(body?.error?.message ?? `HTTP ${res.status}`);
      render(body.hints, body.query);
    } catch (err) {
      if (mine === asked) {
        status.textContent = `No suggestions: ${/** @type {Error} */ (err).message}`;
      }
    }
  }

  function render(/** @type {Hint[]} */ hints, /** @type {string} */ query) {
    status.textContent = hints.length
      ? `For “${query}”`
      : query
      ? `Nothing found for “${query}”.`
      : "The client has not asked anything yet; search instead.";
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
            title: "Put into the reply box",
            on: { click: () => use(hint.text) },
          },
          h("span", {
            class: "badge",
            text: hint.title
              ? `${SOURCE_TEXT[hint.source]} · ${hint.title}`
              : SOURCE_TEXT[hint.source],
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
