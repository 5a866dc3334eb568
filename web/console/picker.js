// @ts-check
/**
 * A staff picker for the transfer and assign-lawyer dialogs: a search box over a list of staff
 * with their status and load (ARIA combobox + listbox). ↑/↓ move, Enter picks, typing filters;
 * a click picks too. Whoever cannot take the chat (offline, away, full) is listed but disabled,
 * with the reason. No free-text ids.
 */
import { h } from "../dom.js";
import { fmtNumber, t } from "../i18n.js";
import { label } from "./roster.js";

/** @typedef {import("./roster.js").StaffEntry} StaffEntry */

/** Why an operator cannot take a transfer, or null when they can. */
export function unavailableReason(/** @type {StaffEntry} */ e) {
  if (e.role !== "operator" || e.available) return null;
  if (e.status !== "online") return t(`console.status.${e.status}`);
  if (!e.connected) return t("console.picker.not_connected");
  return t("console.picker.full");
}

/** "2/5" (operators) or "2" (chats a lawyer holds). */
export function loadText(/** @type {StaffEntry} */ e) {
  return e.capacity === null
    ? fmtNumber(e.open_chats)
    : `${fmtNumber(e.open_chats)}/${fmtNumber(e.capacity)}`;
}

/**
 * @param {{ name: string, label: string, entries: StaffEntry[],
 *   disabled?: (e: StaffEntry) => string | null }} o
 * @returns {import("./dialog.js").Custom}
 */
export function staffPicker(o) {
  const id = `dlg-${o.name}`;
  const listId = `${id}-list`;
  let query = "";
  let active = -1;
  /** @type {string | null} */
  let chosen = null;
  const reasonOf = o.disabled ?? (() => null);
  const sorted = o.entries.slice().sort((a, b) =>
    Number(reasonOf(a) !== null) - Number(reasonOf(b) !== null) ||
    a.open_chats / (a.capacity || 1) - b.open_chats / (b.capacity || 1) ||
    label(a).localeCompare(label(b))
  );
  const input = /** @type {HTMLInputElement} */ (h("input", {
    id,
    type: "text",
    role: "combobox",
    autocomplete: "off",
    "aria-expanded": "true",
    "aria-controls": listId,
    "aria-autocomplete": "list",
    "aria-describedby": `${id}-error ${id}-count`,
    placeholder: t("console.picker.search"),
  }));
  const list = h("ul", {
    id: listId,
    class: "picker-list",
    role: "listbox",
    "aria-label": o.label,
  });
  const count = h("p", { id: `${id}-count`, class: "muted small", role: "status" });

  const shown = () =>
    sorted.filter((e) => {
      const q = query.toLowerCase();
      return !q || label(e).toLowerCase().includes(q) || e.operator_id.toLowerCase().includes(q);
    });

  function render() {
    const items = shown();
    if (active >= items.length) active = items.length - 1;
    list.replaceChildren(...items.map((e, i) => {
      const why = reasonOf(e);
      return h(
        "li",
        {
          id: `${id}-opt-${i}`,
          role: "option",
          class: `picker-option${i === active ? " active" : ""}`,
          "aria-selected": String(chosen === e.operator_id),
          "aria-disabled": why ? "true" : undefined,
          dataset: { id: e.operator_id },
          on: { click: () => !why && pick(e.operator_id, i) },
        },
        h("span", { class: `dot ${e.connected ? "on" : "off"} status-${e.status}` }),
        h(
          "span",
          { class: "picker-name" },
          h("strong", { text: label(e) }),
          e.name && h("span", { class: "muted small", text: ` ${e.operator_id}` }),
        ),
        h("span", { class: `badge status-${e.status}`, text: t(`console.status.${e.status}`) }),
        h("span", {
          class: "picker-load",
          title: t("console.picker.load"),
          text: loadText(e),
        }),
        why && h("span", { class: "muted small picker-why", text: why }),
      );
    }));
    const a = active >= 0 ? `${id}-opt-${active}` : "";
    if (a) input.setAttribute("aria-activedescendant", a);
    else input.removeAttribute("aria-activedescendant");
    count.textContent = items.length
      ? t("console.picker.count", { count: items.length })
      : t("console.picker.none");
    list.querySelector(".active")?.scrollIntoView({ block: "nearest" });
  }

  function pick(/** @type {string} */ who, /** @type {number} */ i) {
    chosen = who;
    active = i;
    render();
    input.focus();
  }

  function move(/** @type {number} */ step) {
    const items = shown();
    for (let i = active + step, n = 0; n < items.length; i += step, n++) {
      const j = (i + items.length) % items.length;
      if (!reasonOf(items[j])) {
        active = j;
        return render();
      }
    }
  }

  input.addEventListener("input", () => {
    query = input.value.trim();
    active = -1;
    render();
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      move(e.key === "ArrowDown" ? 1 : -1);
    } else if (e.key === "Enter") {
      const target = shown()[active];
      if (target && chosen !== target.operator_id && !reasonOf(target)) {
        e.preventDefault(); // the first Enter picks; the next one submits
        pick(target.operator_id, active);
      }
    }
  });
  render();
  return {
    el: h(
      "div",
      { class: "picker" },
      h("label", { for: id, text: o.label }),
      input,
      list,
      count,
    ),
    value: () => chosen,
    focus: () => input.focus(),
  };
}
