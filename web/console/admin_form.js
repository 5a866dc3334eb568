// @ts-check
/**
 * Small pieces the admin tabs share: a table, a status line, a refusal from the server shown on
 * the fields it names, a row's Edit and Delete buttons, and a confirmation before deleting.
 */
import { h } from "../dom.js";
import { t } from "../i18n.js";
import { ApiError } from "./api.js";
import { FieldErrors, openDialog } from "./dialog.js";

/**
 * A table with a caption (for screen readers) and column headers; `wrap` holds it in a box that
 * scrolls sideways on a narrow screen, reachable and scrollable from the keyboard (a named region
 * in the tab order).
 * @param {string} id @param {string} caption @param {string[]} headers
 */
export function table(id, caption, headers) {
  const body = h("tbody");
  const el = h(
    "table",
    { class: "table", id },
    h("caption", { class: "visually-hidden", text: caption }),
    h("thead", {}, h("tr", {}, ...headers.map((x) => h("th", { scope: "col", text: x })))),
    body,
  );
  const wrap = h("div", { class: "table-wrap", role: "region", tabindex: "0" }, el);
  if (caption) wrap.setAttribute("aria-label", caption);
  return { el, body, wrap };
}

/**
 * A server refusal on the fields it names (`invalid_payload`), as `FieldErrors` the dialog shows
 * under each field; other refusals as they are.
 * @param {unknown} err @param {string[]} fields
 */
export function onFields(err, fields) {
  if (err instanceof ApiError && err.code === "invalid_payload") {
    /** @type {Record<string, string>} */
    const out = {};
    for (const [name, detail] of err.fields) {
      const field = fields.includes(name) ? name : fields[0];
      out[field] = t("console.form.refused", { detail });
    }
    if (Object.keys(out).length) return new FieldErrors(out);
  }
  return err;
}

/** Asks before deleting; resolves after `remove` succeeded (errors stay in the dialog). */
export function confirmDelete(
  /** @type {string} */ what,
  /** @type {() => Promise<void>} */ remove,
) {
  openDialog({
    title: t("console.form.delete_title", { what }),
    ok: t("console.form.delete"),
    danger: true,
    fields: [],
    onSubmit: remove,
  });
}

/**
 * A row's last cell: Edit, and Delete after a confirmation, both named after the row's `name`.
 * @param {string} name @param {() => void} edit @param {() => Promise<void>} remove
 */
export function editDeleteCell(name, edit, remove) {
  return h(
    "td",
    { class: "row-actions" },
    h("button", {
      type: "button",
      class: "small",
      text: t("console.form.edit"),
      "aria-label": t("console.form.edit_named", { name }),
      on: { click: edit },
    }),
    h("button", {
      type: "button",
      class: "small danger-ghost",
      text: t("console.form.delete"),
      "aria-label": t("console.form.delete_named", { name }),
      on: { click: () => confirmDelete(name, remove) },
    }),
  );
}

/** Text fields' limits shown inline, as the server checks them. */
export function required(
  /** @type {Record<string, string>} */ bad,
  /** @type {string} */ name,
  /** @type {unknown} */ value,
  max = 0,
) {
  const v = typeof value === "string" ? value : "";
  if (!v) bad[name] = t("console.form.required");
  else if (max && v.length > max) bad[name] = t("console.form.too_long", { max });
}
