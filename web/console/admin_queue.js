// @ts-check
/**
 * Admin › Queue: the routing mode, how many wait and how fast chats are taken, and every waiting
 * chat in order with its wait and priority; a priority is changed in place (a whole number,
 * higher goes first; `POST /admin/update-queue-priority`), and the queue reorders at once.
 */
import { h, show } from "../dom.js";
import { fmtDuration, fmtNumber, lang, t } from "../i18n.js";
import { api, errorText } from "./api.js";
import { table } from "./admin_form.js";
import { visitorName } from "./channel.js";
import { preview } from "./previews.js";
import { reconcile } from "./reconcile.js";

/** @param {HTMLElement} panel @returns {import("./admin.js").Tab} */
export function queueTab(panel) {
  const facts = h("dl", { class: "facts", id: "queue-facts" });
  const status = h("p", { class: "muted small", role: "status" });
  let tbl = table("queue-admin", "", []);
  const editing = new Set();
  /** @type {Map<string, string>} */
  const sigs = new Map();
  let builtFor = "";

  function frame() {
    tbl = table("queue-admin", t("console.admin.queue_caption"), [
      t("console.admin.col_position"),
      t("console.admin.col_client"),
      t("console.admin.col_waited"),
      t("console.admin.col_priority"),
    ]);
    panel.replaceChildren(
      h("h2", { text: t("console.admin.tab_queue") }),
      facts,
      h("p", { class: "muted small", text: t("console.admin.priority_hint") }),
      tbl.wrap,
      status,
    );
    builtFor = lang();
    sigs.clear();
  }

  /** @param {any} w a waiting chat */
  function row(w) {
    const p = preview(w.chat_id);
    const name = visitorName(w.client_id, p?.name);
    const err = h("p", {
      class: "field-error",
      role: "alert",
      hidden: true,
      id: `prio-err-${w.position}`,
    });
    const input = /** @type {HTMLInputElement} */ (h("input", {
      type: "number",
      step: "1",
      inputmode: "numeric",
      class: "prio-input",
      value: String(w.priority),
      "aria-label": t("console.admin.priority_of", { name }),
      "aria-describedby": err.id,
      on: { input: () => editing.add(w.chat_id) },
    }));
    const save = async (/** @type {Event} */ e) => {
      e.preventDefault();
      const n = Number(input.value);
      show(err, false);
      if (input.value.trim() === "" || !Number.isInteger(n) || Math.abs(n) > 1_000_000) {
        err.textContent = t("console.admin.priority_invalid");
        input.setAttribute("aria-invalid", "true");
        return show(err);
      }
      input.removeAttribute("aria-invalid");
      try {
        await api("admin/update-queue-priority", {
          method: "POST",
          body: { chat_id: w.chat_id, priority: n },
        });
        editing.delete(w.chat_id);
        await refresh();
      } catch (x) {
        err.textContent = errorText(x);
        show(err);
      }
    };
    return h(
      "tr",
      { dataset: { chatId: w.chat_id } },
      h("td", { class: "num", text: fmtNumber(w.position) }),
      h(
        "th",
        { scope: "row" },
        h("span", { text: name }),
        p?.text && h("span", { class: "muted small block preview", text: p.text }),
      ),
      h("td", { text: fmtDuration(w.waited_s) }),
      h(
        "td",
        {},
        h(
          "form",
          { class: "inline-form", novalidate: true, on: { submit: save } },
          input,
          h("button", { type: "submit", class: "small", text: t("console.form.save") }),
          err,
        ),
      ),
    );
  }

  async function refresh() {
    if (builtFor !== lang()) frame();
    try {
      const q = await api("admin/queue");
      facts.replaceChildren(
        ...[
          [t("console.admin.queue_name"), q.queue],
          [t("console.admin.routing"), t(`console.admin.mode_${q.mode}`)],
          [t("console.admin.waiting"), fmtNumber(q.length)],
          [t("console.admin.active"), fmtNumber(q.active.length)],
          [
            t("console.admin.rate"),
            q.service_rate_per_min === null ? "—" : t("console.admin.per_min", {
              n: fmtNumber(q.service_rate_per_min, { maximumFractionDigits: 1 }),
            }),
          ],
        ].flatMap(([k, v]) => [h("dt", { text: k }), h("dd", { text: v })]),
      );
      reconcile(
        tbl.body,
        q.waiting.map((/** @type {any} */ w) => {
          const fresh = JSON.stringify([
            w.position,
            w.priority,
            Math.round(w.waited_s / 10),
            preview(w.chat_id),
          ]);
          const sig = editing.has(w.chat_id) ? sigs.get(w.chat_id) ?? fresh : fresh;
          sigs.set(w.chat_id, sig);
          return { key: w.chat_id, sig, build: () => row(w) };
        }),
      );
      status.textContent = q.waiting.length ? "" : t("console.queue.empty");
    } catch (err) {
      status.textContent = errorText(err);
    }
  }

  return { refresh, every: 3000 };
}
