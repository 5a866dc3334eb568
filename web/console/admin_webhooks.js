// @ts-check
/**
 * Admin › Webhooks: subscriptions (URL, events, on or off, description), created, edited and
 * deleted in a dialog (`/admin/webhooks`). The signing secret is shown once, after creating.
 * The URL must be http(s) without a user or password, and at least one event is chosen: checked
 * inline before the server checks again.
 */
import { h } from "../dom.js";
import { fmtDate, lang, t } from "../i18n.js";
import { api, errorText } from "./api.js";
import { FieldErrors, openDialog } from "./dialog.js";
import { editDeleteCell, onFields, table } from "./admin_form.js";
import { deadLetters } from "./admin_dead_letters.js";

/** The event types a subscription may ask for (src/integrations/webhooks/events.ts). */
export const WEBHOOK_EVENTS = [
  "chat.created",
  "chat.assigned",
  "chat.message",
  "chat.closed",
  "chat.rated",
  "chat.transferred",
];

/**
 * @typedef {{ id: string, url: string, events: string[], enabled: boolean,
 *   description: string | null, disabled_reason: string | null, created_at: string }} Hook
 */

/** What is wrong with a webhook URL, or "". */
export function urlProblem(/** @type {string} */ v) {
  if (!v) return t("console.form.required");
  let u;
  try {
    u = new URL(v);
  } catch {
    return t("console.webhooks.bad_url");
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") return t("console.webhooks.bad_url");
  if (u.username || u.password) return t("console.webhooks.no_credentials");
  return "";
}

/** The events as a group of checkboxes (a custom dialog field). @param {string[]} chosen */
function eventsField(chosen) {
  const boxes = WEBHOOK_EVENTS.map((ev) => /** @type {HTMLInputElement} */ (h("input", {
    type: "checkbox",
    value: ev,
    id: `dlg-ev-${ev.replace(".", "-")}`,
    checked: chosen.includes(ev),
  })));
  const el = h(
    "fieldset",
    { class: "checks", id: "dlg-events", "aria-describedby": "dlg-events-error" },
    h("legend", { text: t("console.webhooks.events") }),
    ...boxes.map((b, i) =>
      h(
        "label",
        { class: "check" },
        b,
        h("span", { text: t(`console.webhooks.ev_${WEBHOOK_EVENTS[i].replace(".", "_")}`) }),
        h("code", { text: WEBHOOK_EVENTS[i] }),
      )
    ),
  );
  return {
    el,
    value: () => boxes.filter((b) => b.checked).map((b) => b.value).join(","),
    focus: () => boxes[0].focus(),
  };
}

/** @param {HTMLElement} panel @returns {import("./admin.js").Tab} */
export function webhooksTab(panel) {
  const status = h("p", { class: "muted small", role: "status" });
  const secret = h("div", { class: "secret-box", role: "status", hidden: true });
  let tbl = table("webhooks", "", []);
  let builtFor = "";
  /** @type {Hook[]} */
  let hooks = [];
  const dead = deadLetters((id) => hooks.find((w) => w.id === id)?.url ?? id);

  function frame() {
    tbl = table("webhooks", t("console.admin.webhooks_caption"), [
      t("console.webhooks.col_url"),
      t("console.webhooks.events"),
      t("console.webhooks.col_state"),
      t("console.webhooks.col_created"),
      t("console.admin.col_actions"),
    ]);
    panel.replaceChildren(
      h(
        "div",
        { class: "tab-head" },
        h("h2", { text: t("console.admin.tab_webhooks") }),
        h("button", {
          type: "button",
          class: "primary small",
          id: "webhook-new",
          text: t("console.webhooks.new"),
          on: { click: () => edit(null) },
        }),
      ),
      secret,
      tbl.wrap,
      status,
      dead.el,
    );
    builtFor = lang();
  }

  /** @param {Hook | null} hook */
  function edit(hook) {
    openDialog({
      title: hook ? t("console.webhooks.edit_title") : t("console.webhooks.new_title"),
      ok: t("console.form.save"),
      wide: true,
      fields: [
        {
          name: "url",
          label: t("console.webhooks.col_url"),
          maxlength: 2048,
          value: hook?.url,
          placeholder: "https://",
        },
        {
          name: "events",
          label: t("console.webhooks.events"),
          type: "custom",
          custom: eventsField(hook?.events ?? ["chat.created"]),
        },
        {
          name: "description",
          label: t("console.webhooks.description"),
          maxlength: 500,
          value: hook?.description ?? "",
        },
        { name: "disabled", label: t("console.webhooks.disabled"), type: "checkbox" },
      ],
      onSubmit: async (v) => {
        const events = String(v.events).split(",").filter(Boolean);
        /** @type {Record<string, string>} */
        const bad = {};
        const problem = urlProblem(String(v.url));
        if (problem) bad.url = problem;
        if (!events.length) bad.events = t("console.webhooks.pick_event");
        if (Object.keys(bad).length) throw new FieldErrors(bad);
        const body = {
          url: v.url,
          events,
          description: v.description || (hook ? null : undefined),
          enabled: !v.disabled,
        };
        let answer;
        try {
          answer = await api(
            hook ? `admin/webhooks/${encodeURIComponent(hook.id)}` : "admin/webhooks",
            {
              method: hook ? "PATCH" : "POST",
              body,
            },
          );
        } catch (err) {
          throw onFields(err, ["url", "events", "description"]);
        }
        if (answer?.secret) {
          secret.replaceChildren(
            h("p", { text: t("console.webhooks.secret_once") }),
            h("code", { id: "webhook-secret", text: answer.secret }),
          );
          secret.hidden = false;
        }
        await refresh();
      },
    });
    if (hook && !hook.enabled) {
      /** @type {HTMLInputElement} */ (document.getElementById("dlg-disabled")).checked = true;
    }
  }

  async function refresh() {
    if (builtFor !== lang()) frame();
    try {
      hooks = /** @type {Hook[]} */ (await api("admin/webhooks"));
      tbl.body.replaceChildren(...hooks.map((w) =>
        h(
          "tr",
          { dataset: { webhookId: w.id } },
          h(
            "th",
            { scope: "row", class: "clip" },
            h("span", { text: w.url, title: w.url }),
            w.description && h("span", { class: "muted small block", text: w.description }),
          ),
          h("td", { text: w.events.join(", ") }),
          h(
            "td",
            {},
            h("span", {
              class: `badge ${w.enabled ? "status-online" : "status-offline"}`,
              text: w.enabled ? t("console.webhooks.on") : t("console.webhooks.off"),
              title: w.disabled_reason ?? "",
            }),
          ),
          h("td", { text: fmtDate(w.created_at) }),
          editDeleteCell(w.url, () => edit(w), async () => {
            await api(`admin/webhooks/${encodeURIComponent(w.id)}`, { method: "DELETE" });
            await refresh();
          }),
        )
      ));
      status.textContent = hooks.length ? "" : t("console.webhooks.none");
      await dead.refresh();
    } catch (err) {
      status.textContent = errorText(err);
    }
  }

  return { refresh, every: 0 };
}
