// @ts-check
/**
 * Admin › Canned responses: the list, and create, edit and delete in a dialog
 * (`/admin/canned-responses`). Title up to 200 characters, text up to the message limit, tags
 * (comma-separated) up to 20 of 50 characters: checked inline before the server checks again.
 */
import { h } from "../dom.js";
import { fmtDate, lang, t } from "../i18n.js";
import { api, errorText } from "./api.js";
import { FieldErrors, openDialog } from "./dialog.js";
import { editDeleteCell, onFields, required, table } from "./admin_form.js";

/**
 * @typedef {{ id: string, title: string, text: string, tags: string[], updated_at: string }} Canned
 */

/** @param {HTMLElement} panel @returns {import("./admin.js").Tab} */
export function cannedTab(panel) {
  const status = h("p", { class: "muted small", role: "status" });
  let tbl = table("canned", "", []);
  let builtFor = "";

  function frame() {
    tbl = table("canned", t("console.admin.canned_caption"), [
      t("console.canned.col_title"),
      t("console.canned.col_text"),
      t("console.canned.col_tags"),
      t("console.canned.col_updated"),
      t("console.admin.col_actions"),
    ]);
    panel.replaceChildren(
      h(
        "div",
        { class: "tab-head" },
        h("h2", { text: t("console.admin.tab_canned") }),
        h("button", {
          type: "button",
          class: "primary small",
          id: "canned-new",
          text: t("console.canned.new"),
          on: { click: () => edit(null) },
        }),
      ),
      tbl.wrap,
      status,
    );
    builtFor = lang();
  }

  /** The create/edit dialog. @param {Canned | null} item */
  function edit(item) {
    openDialog({
      title: item ? t("console.canned.edit_title") : t("console.canned.new_title"),
      ok: t("console.form.save"),
      wide: true,
      fields: [
        { name: "title", label: t("console.canned.col_title"), maxlength: 200, value: item?.title },
        {
          name: "text",
          label: t("console.canned.col_text"),
          type: "textarea",
          maxlength: 4000,
          value: item?.text,
        },
        {
          name: "tags",
          label: t("console.canned.tags_label"),
          placeholder: t("console.canned.tags_placeholder"),
          maxlength: 1100,
          value: item?.tags.join(", "),
        },
      ],
      onSubmit: async (v) => {
        const tags = String(v.tags).split(",").map((s) => s.trim()).filter(Boolean);
        /** @type {Record<string, string>} */
        const bad = {};
        required(bad, "title", v.title, 200);
        required(bad, "text", v.text, 4000);
        if (tags.length > 20) bad.tags = t("console.canned.too_many_tags");
        else if (tags.some((x) => x.length > 50)) {
          bad.tags = t("console.form.too_long", { max: 50 });
        }
        if (Object.keys(bad).length) throw new FieldErrors(bad);
        const body = { title: v.title, text: v.text, tags };
        try {
          await api(
            item
              ? `admin/canned-responses/${encodeURIComponent(item.id)}`
              : "admin/canned-responses",
            {
              method: item ? "PUT" : "POST",
              body,
            },
          );
        } catch (err) {
          throw onFields(err, ["title", "text", "tags"]);
        }
        await refresh();
      },
    });
  }

  async function refresh() {
    if (builtFor !== lang()) frame();
    try {
      const { canned_responses: items } = await api("admin/canned-responses");
      tbl.body.replaceChildren(...items.map((/** @type {Canned} */ c) =>
        h(
          "tr",
          { dataset: { cannedId: c.id } },
          h("th", { scope: "row", text: c.title }),
          h("td", { class: "clip", text: c.text, title: c.text }),
          h("td", { text: c.tags.join(", ") }),
          h("td", { text: fmtDate(c.updated_at) }),
          editDeleteCell(c.title, () => edit(c), async () => {
            await api(`admin/canned-responses/${encodeURIComponent(c.id)}`, { method: "DELETE" });
            await refresh();
          }),
        )
      ));
      status.textContent = items.length ? "" : t("console.canned.none");
    } catch (err) {
      status.textContent = errorText(err);
    }
  }

  return { refresh, every: 0 };
}
