// @ts-check
/** A small modal form on the page's `<dialog>` (no `window.prompt`/`confirm`). */
import { byId, h, show } from "../dom.js";

/**
 * @typedef {{ name: string, label: string, type?: "text" | "checkbox" | "textarea",
 *   required?: boolean, placeholder?: string, maxlength?: number }} Field
 */

/**
 * Opens the dialog. `onSubmit` gets the values; if it throws, its message is shown and the
 * dialog stays open; otherwise the dialog closes.
 * @param {{ title: string, fields: Field[], ok: string, danger?: boolean,
 *   onSubmit(values: Record<string, string | boolean>): Promise<void> }} spec
 */
export function openDialog(spec) {
  const dialog = /** @type {HTMLDialogElement} */ (byId("dialog"));
  const form = /** @type {HTMLFormElement} */ (byId("dialog-form"));
  const error = byId("dialog-error");
  const ok = /** @type {HTMLButtonElement} */ (byId("dialog-ok"));
  byId("dialog-title").textContent = spec.title;
  ok.textContent = spec.ok;
  ok.className = spec.danger ? "danger" : "primary";
  show(error, false);
  byId("dialog-fields").replaceChildren(...spec.fields.map((f) => {
    const id = `dlg-${f.name}`;
    if (f.type === "checkbox") {
      return h(
        "label",
        { class: "check" },
        h("input", { type: "checkbox", id, name: f.name }),
        h("span", { text: f.label }),
      );
    }
    const attrs = {
      id,
      name: f.name,
      required: f.required,
      placeholder: f.placeholder,
      maxlength: f.maxlength ?? 500,
      autocomplete: "off",
    };
    return h(
      "label",
      {},
      h("span", { text: f.label }),
      f.type === "textarea" ? h("textarea", { ...attrs, rows: "3" }) : h("input", attrs),
    );
  }));

  form.onsubmit = async (e) => {
    e.preventDefault();
    /** @type {Record<string, string | boolean>} */
    const values = {};
    for (const f of spec.fields) {
      const input = /** @type {HTMLInputElement} */ (byId(`dlg-${f.name}`));
      values[f.name] = f.type === "checkbox" ? input.checked : input.value.trim();
    }
    ok.disabled = true;
    try {
      await spec.onSubmit(values);
      dialog.close();
    } catch (err) {
      error.textContent = /** @type {Error} */ (err).message;
      show(error);
    } finally {
      ok.disabled = false;
    }
  };
  byId("dialog-cancel").onclick = () => dialog.close();
  dialog.showModal();
  /** @type {HTMLElement | null} */ (dialog.querySelector("input, textarea"))?.focus();
}
