// @ts-check
/**
 * Admin › Operators: every staff member with their role (from their token: operator, lawyer or
 * admin), status, load and capacity. Status applies at once; capacity (operators only; empty =
 * the queue's default) is saved with its button or Enter and checked inline
 * (`POST /admin/update-operator-status`). Rows being edited are not redrawn by the polling.
 */
import { h, show } from "../dom.js";
import { fmtDuration, fmtNumber, lang, t } from "../i18n.js";
import { api, errorText } from "./api.js";
import { table } from "./admin_form.js";
import { reconcile } from "./reconcile.js";
import { roster } from "./roster.js";

const STATUSES = ["online", "away", "busy", "offline"];

/** @param {HTMLElement} panel @returns {import("./admin.js").Tab} */
export function operatorsTab(panel) {
  const status = h("p", { class: "muted small", role: "status" });
  let tbl = table("operators", "", []);
  /** Operators whose row is being edited: its last signature is kept. */
  const editing = new Set();
  /** @type {Map<string, string>} */
  const sigs = new Map();
  let builtFor = "";

  function frame() {
    tbl = table("operators", t("console.admin.operators_caption"), [
      t("console.admin.col_name"),
      t("console.admin.col_role"),
      t("console.admin.col_status"),
      t("console.admin.col_load"),
      t("console.admin.col_capacity"),
      t("console.admin.col_handled"),
    ]);
    panel.replaceChildren(
      h("h2", { text: t("console.admin.tab_operators") }),
      h("p", { class: "muted small", text: t("console.admin.operators_hint") }),
      tbl.wrap,
      status,
    );
    builtFor = lang();
    sigs.clear();
  }

  /** @param {string} id @param {Record<string, unknown>} body @param {HTMLElement} err */
  async function update(id, body, err) {
    show(err, false);
    try {
      await api("admin/update-operator-status", {
        method: "POST",
        body: { operator_id: id, ...body },
      });
      editing.delete(id);
      await refresh();
    } catch (e) {
      err.textContent = errorText(e);
      show(err);
    }
  }

  /** @param {any} o the admin row with `name` and `role` from the roster */
  function row(o) {
    const id = o.operator_id;
    const name = o.name || id;
    const err = h("p", {
      class: "field-error",
      id: `cap-err-${cssId(id)}`,
      role: "alert",
      hidden: true,
    });
    const operator = o.role === "operator";
    const select = /** @type {HTMLSelectElement} */ (h(
      "select",
      {
        class: "op-status",
        "aria-label": t("console.admin.status_of", { name }),
        on: {
          change: (/** @type {Event} */ e) =>
            update(id, { status: /** @type {HTMLSelectElement} */ (e.target).value }, err),
        },
      },
      ...STATUSES.map((s) => h("option", { value: s, text: t(`console.status.${s}`) })),
    ));
    select.value = o.status;
    const cap = /** @type {HTMLInputElement} */ (h("input", {
      type: "number",
      class: "op-capacity",
      min: "0",
      max: "1000",
      step: "1",
      inputmode: "numeric",
      value: o.capacity ?? "",
      placeholder: t("console.admin.capacity_default"),
      "aria-label": t("console.admin.capacity_of", { name }),
      "aria-describedby": err.id,
      on: { input: () => editing.add(id) },
    }));
    const save = (/** @type {Event} */ e) => {
      e.preventDefault();
      const raw = cap.value.trim();
      const n = Number(raw);
      if (raw !== "" && (!Number.isInteger(n) || n < 0 || n > 1000)) {
        err.textContent = t("console.admin.capacity_invalid");
        cap.setAttribute("aria-invalid", "true");
        return show(err);
      }
      cap.removeAttribute("aria-invalid");
      update(id, { capacity: raw === "" ? null : n }, err);
    };
    const stats = o.stats;
    const handled = stats
      ? [
        fmtNumber(stats.chats_handled),
        stats.rating_avg === null
          ? ""
          : `★${fmtNumber(stats.rating_avg, { maximumFractionDigits: 1 })}`,
        stats.first_response_avg_s === null
          ? ""
          : t("console.admin.first_response", { time: fmtDuration(stats.first_response_avg_s) }),
      ]
        .filter(Boolean).join(" · ")
      : "—";
    return h(
      "tr",
      { dataset: { operatorId: id, role: o.role } },
      h(
        "th",
        { scope: "row" },
        h("span", {
          class: `dot ${o.connected ? "on" : "off"}`,
          title: o.connected ? t("console.admin.connected") : t("console.admin.not_connected"),
        }),
        h("span", { text: name }),
        o.name && h("span", { class: "muted small", text: ` ${id}` }),
        h("span", {
          class: "visually-hidden",
          text: o.connected ? t("console.admin.connected") : t("console.admin.not_connected"),
        }),
      ),
      h("td", {}, h("span", { class: `badge role-${o.role}`, text: t(`console.role.${o.role}`) })),
      h("td", {}, select),
      h("td", {
        class: "num",
        text: operator
          ? `${fmtNumber(o.open_chats)}/${fmtNumber(o.capacity)}`
          : fmtNumber(o.open_chats),
      }),
      h(
        "td",
        {},
        operator
          ? h(
            "form",
            { class: "inline-form", novalidate: true, on: { submit: save } },
            cap,
            h("button", { type: "submit", class: "small", text: t("console.form.save") }),
            err,
          )
          : h("span", { class: "muted", text: t("console.admin.no_capacity") }),
      ),
      h("td", { text: handled }),
    );
  }

  async function refresh() {
    if (builtFor !== lang()) frame();
    try {
      const [ops, staff] = await Promise.all([api("admin/operators"), roster(0)]);
      const byId = new Map(staff.map((s) => [s.operator_id, s]));
      const rows = /** @type {any[]} */ (ops).map((o) => {
        const r = byId.get(o.operator_id);
        return {
          ...o,
          name: r?.name ?? null,
          role: r?.role ?? o.role,
          open_chats: r?.open_chats ?? o.open_chats,
        };
      }).sort((a, b) => a.operator_id.localeCompare(b.operator_id));
      reconcile(
        tbl.body,
        rows.map((o) => {
          const fresh = JSON.stringify(o);
          const sig = editing.has(o.operator_id) ? sigs.get(o.operator_id) ?? fresh : fresh;
          sigs.set(o.operator_id, sig);
          return { key: o.operator_id, sig, build: () => row(o) };
        }),
      );
      status.textContent = rows.length ? "" : t("console.admin.no_operators");
    } catch (err) {
      status.textContent = errorText(err);
    }
  }

  return { refresh, every: 5000 };
}

/** An id usable in an element id. */
function cssId(/** @type {string} */ id) {
  return id.replace(/[^\w-]/g, "_");
}
