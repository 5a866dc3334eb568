// @ts-check
/**
 * Keyboard shortcuts of the console (letters only while no text field has focus; Alt+↑/↓ work
 * everywhere): J / K or Alt+↓ / Alt+↑ next and previous chat, A accept the offered (or first
 * waiting) chat, R reply, N internal note, T transfer, / search, ? the list of shortcuts, Esc
 * back to the list (narrow screens). Dialogs close with Esc by themselves. Letters are read by
 * the key's place (`KeyboardEvent.code`), so they work with a Russian layout too.
 */
import { byId, h } from "../dom.js";
import { t } from "../i18n.js";

/**
 * @typedef {{ next(step: number): void, accept(): void, reply(): void, note(): void,
 *   transfer(): void, search(): void, back(): boolean }} KeyActions
 */

/** [keys shown, what they do] */
const SHORTCUTS = [
  [["J", "Alt+↓"], () => t("console.keys.next")],
  [["K", "Alt+↑"], () => t("console.keys.prev")],
  [["A"], () => t("console.keys.accept")],
  [["R"], () => t("console.keys.reply")],
  [["N"], () => t("console.keys.note")],
  [["T"], () => t("console.keys.transfer")],
  [["/"], () => t("console.keys.search")],
  [["?"], () => t("console.keys.help")],
  [["Esc"], () => t("console.keys.escape")],
  [["Enter"], () => t("console.keys.send")],
  [["Shift+Enter"], () => t("console.keys.newline")],
];

/** Whether the event comes from a place where letters are text. */
function typing(/** @type {EventTarget | null} */ target) {
  const el = /** @type {HTMLElement | null} */ (target);
  if (!el || !el.tagName) return false;
  if (el.isContentEditable) return true;
  if (el.tagName === "TEXTAREA" || el.tagName === "SELECT") return true;
  if (el.tagName !== "INPUT") return false;
  const type = /** @type {HTMLInputElement} */ (el).type;
  return !["checkbox", "radio", "button", "submit", "reset"].includes(type);
}

/** The shortcut list in the help dialog (after a language switch too). */
export function renderKeys() {
  byId("keys-body").replaceChildren(...SHORTCUTS.map(([keys, what]) =>
    h(
      "tr",
      {},
      h(
        "th",
        { scope: "row" },
        ...(/** @type {string[]} */ (keys)).flatMap((k, i) => [
          i ? h("span", { class: "muted", text: " / " }) : "",
          h("kbd", { text: k }),
        ]),
      ),
      h("td", { text: /** @type {() => string} */ (what)() }),
    )
  ));
}

/** @param {KeyActions} act */
export function installKeyboard(act) {
  const help = /** @type {HTMLDialogElement} */ (byId("help-dialog"));
  const openHelp = () => {
    renderKeys();
    if (!help.open) help.showModal();
    byId("help-close").focus();
  };
  byId("help-btn").addEventListener("click", openHelp);
  byId("help-close").addEventListener("click", () => help.close());
  document.addEventListener("keydown", (e) => {
    if (e.defaultPrevented || e.isComposing) return;
    if (document.querySelector("dialog[open]")) return;
    if (e.altKey && !e.ctrlKey && !e.metaKey && (e.key === "ArrowDown" || e.key === "ArrowUp")) {
      e.preventDefault();
      return act.next(e.key === "ArrowDown" ? 1 : -1);
    }
    if (e.key === "Escape") {
      if (act.back()) e.preventDefault();
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return;
    // By the key's place, not its letter: the same keys work with a Russian layout.
    /** @type {Record<string, () => void>} */
    const keys = {
      KeyJ: () => act.next(1),
      KeyK: () => act.next(-1),
      KeyA: () => act.accept(),
      KeyR: () => act.reply(),
      KeyN: () => act.note(),
      KeyT: () => act.transfer(),
    };
    const fn = e.key === "?" || (e.code === "Slash" && e.shiftKey)
      ? openHelp
      : e.key === "/" || e.code === "Slash"
      ? () => act.search()
      : e.shiftKey
      ? undefined
      : keys[e.code];
    if (!fn) return;
    e.preventDefault();
    fn();
  });
}
