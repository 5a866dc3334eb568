// @ts-check
/**
 * A chat's labels in the context panel: chips, each with a remove button, and a field to add one
 * (suggesting the labels already in use). The owner of a chat and admins change them
 * (`set_labels` with the whole list); others see them. Checked here as the server checks them:
 * 1–32 characters, at most 10, no repeats.
 */
import { h, show } from "../dom.js";
import { t } from "../i18n.js";
import { errorText } from "./api.js";

export const MAX_LABELS = 10;
export const MAX_LABEL_CHARS = 32;

/**
 * @param {string[]} labels
 * @param {boolean} write
 * @param {(labels: string[]) => Promise<void>} save
 */
export function labelEditor(labels, write, save) {
  const error = h("p", { class: "field-error", id: "label-error", role: "alert", hidden: true });
  const fail = (/** @type {string} */ text) => {
    error.textContent = text;
    show(error);
  };
  const change = (/** @type {string[]} */ next) => save(next).catch((err) => fail(errorText(err)));
  const chips = labels.map((l) =>
    h(
      "li",
      { class: "chip", dataset: { label: l } },
      h("span", { text: l }),
      write && h("button", {
        type: "button",
        class: "chip-remove",
        "aria-label": t("console.labels.remove", { label: l }),
        title: t("console.labels.remove", { label: l }),
        text: "×",
        on: { click: () => change(labels.filter((x) => x !== l)) },
      }),
    )
  );
  const input = /** @type {HTMLInputElement} */ (h("input", {
    type: "text",
    id: "label-input",
    maxlength: MAX_LABEL_CHARS,
    list: "label-options",
    autocomplete: "off",
    placeholder: t("console.labels.placeholder"),
    "aria-describedby": "label-error",
  }));
  const add = (/** @type {Event} */ e) => {
    e.preventDefault();
    const value = input.value.trim();
    show(error, false);
    if (!value) return fail(t("console.labels.empty"));
    if (labels.includes(value)) return fail(t("console.labels.duplicate", { label: value }));
    if (labels.length >= MAX_LABELS) {
      return fail(t("console.labels.too_many", { count: MAX_LABELS }));
    }
    input.value = "";
    change([...labels, value]);
  };
  return h(
    "section",
    { class: "ctx-section", "aria-labelledby": "ctx-labels" },
    h("h3", { id: "ctx-labels", text: t("console.labels.title") }),
    chips.length
      ? h("ul", { class: "chips", id: "chat-labels" }, ...chips)
      : h("p", { class: "muted small", id: "chat-labels", text: t("console.labels.none") }),
    write && h(
      "form",
      { class: "label-form", on: { submit: add } },
      h("label", { for: "label-input", class: "visually-hidden", text: t("console.labels.add") }),
      input,
      h("button", {
        type: "submit",
        class: "small",
        id: "label-add",
        "aria-label": t("console.labels.add"),
        text: t("console.labels.add_short"),
      }),
    ),
    error,
  );
}
