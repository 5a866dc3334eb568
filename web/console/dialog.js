// @ts-check
/**
 * A small modal form on the page's `<dialog>` (no `window.prompt`/`confirm`): text, text area,
 * checkbox and custom fields (the staff pickers). A refusal is shown inline: `FieldErrors` under
 * its fields, anything else above the buttons; the dialog then stays open. Esc closes it (the
 * browser's own dialog behaviour), and focus returns to where it was.
 */
import { byId, h, show } from "../dom.js";
import { errorText } from "./api.js";

/**
 * A custom field: its element, the value it holds (null: nothing chosen), where focus goes.
 * @typedef {{ el: HTMLElement, value(): string | null, focus(): void }} Custom
 * @typedef {{ name: string, label: string, type?: "text" | "checkbox" | "textarea" | "custom",
 *   required?: boolean, placeholder?: string, maxlength?: number, value?: string,
 *   custom?: Custom }} Field
 */

/** Errors per field name (shown under each field). */
export class FieldErrors extends Error {
  /** @param {Record<string, string>} fields */
  constructor(fields) {
    super(Object.values(fields).join(" "));
    this.fields = fields;
  }
}

/** The value of a dialog field after submit. */
function valueOf(/** @type {Field} */ f) {
  if (f.type === "custom") return f.custom?.value() ?? "";
  const input = /** @type {HTMLInputElement} */ (byId(`dlg-${f.name}`));
  return f.type === "checkbox" ? input.checked : input.value.trim();
}

/** @param {Field} f */
function fieldEl(f) {
  const id = `dlg-${f.name}`;
  const err = h("p", { class: "field-error", id: `${id}-error`, hidden: true });
  if (f.type === "checkbox") {
    return h(
      "div",
      { class: "field" },
      h(
        "label",
        { class: "check" },
        h("input", { type: "checkbox", id, name: f.name }),
        h("span", { text: f.label }),
      ),
      err,
    );
  }
  if (f.type === "custom" && f.custom) {
    return h("div", { class: "field" }, f.custom.el, err);
  }
  const attrs = {
    id,
    name: f.name,
    required: f.required,
    placeholder: f.placeholder,
    maxlength: f.maxlength ?? 500,
    autocomplete: "off",
    "aria-describedby": `${id}-error`,
  };
  const input = f.type === "textarea"
    ? h("textarea", { ...attrs, rows: "3" })
    : h("input", { ...attrs, type: "text" });
  if (f.value) /** @type {HTMLInputElement} */ (input).value = f.value;
  return h("div", { class: "field" }, h("label", { for: id, text: f.label }), input, err);
}

/**
 * Opens the dialog. `onSubmit` gets the values; if it throws, its message is shown and the
 * dialog stays open; otherwise the dialog closes.
 * @param {{ title: string, fields: Field[], ok: string, danger?: boolean, wide?: boolean,
 *   onSubmit(values: Record<string, string | boolean>): Promise<void> | void }} spec
 */
export function openDialog(spec) {
  const dialog = /** @type {HTMLDialogElement} */ (byId("dialog"));
  const form = /** @type {HTMLFormElement} */ (byId("dialog-form"));
  const error = byId("dialog-error");
  const ok = /** @type {HTMLButtonElement} */ (byId("dialog-ok"));
  const returnTo = /** @type {HTMLElement | null} */ (document.activeElement);
  byId("dialog-title").textContent = spec.title;
  ok.textContent = spec.ok;
  ok.className = spec.danger ? "danger" : "primary";
  dialog.classList.toggle("wide", spec.wide === true);
  show(error, false);
  byId("dialog-fields").replaceChildren(...spec.fields.map(fieldEl));

  const clearErrors = () => {
    for (const el of dialog.querySelectorAll(".field-error")) {
      el.textContent = "";
      show(/** @type {HTMLElement} */ (el), false);
    }
    for (const el of dialog.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
    show(error, false);
  };

  form.onsubmit = async (e) => {
    e.preventDefault();
    clearErrors();
    /** @type {Record<string, string | boolean>} */
    const values = {};
    for (const f of spec.fields) values[f.name] = valueOf(f);
    ok.disabled = true;
    try {
      await spec.onSubmit(values);
      dialog.close();
    } catch (err) {
      if (err instanceof FieldErrors) {
        for (const [name, text] of Object.entries(err.fields)) {
          const slot = document.getElementById(`dlg-${name}-error`);
          if (!slot) continue;
          slot.textContent = text;
          show(slot);
          document.getElementById(`dlg-${name}`)?.setAttribute("aria-invalid", "true");
        }
        /** @type {HTMLElement | null} */ (dialog.querySelector("[aria-invalid]"))?.focus();
      } else {
        error.textContent = errorText(err);
        show(error);
      }
    } finally {
      ok.disabled = false;
    }
  };
  byId("dialog-cancel").onclick = () => dialog.close();
  dialog.onclose = () => returnTo?.isConnected && returnTo.focus();
  dialog.showModal();
  const first = spec.fields[0];
  const input = /** @type {HTMLElement | null} */ (dialog.querySelector("input, textarea"));
  if (first?.type === "custom") first.custom?.focus();
  else input?.focus();
}
