// @ts-check
/**
 * Admin › Webhooks › Failed deliveries: the dead letters (`GET /admin/webhooks/dead-letters`,
 * newest first) with why each failed, and per row Replay (`POST …/{id}/replay`: the same
 * delivery id and body, fresh tries) and Delete. Shown under the webhooks' own table.
 */
import { h } from "../dom.js";
import { fmtDateTime, t } from "../i18n.js";
import { api, errorText } from "./api.js";
import { table } from "./admin_form.js";

/**
 * @typedef {{ id: string, subscription_id: string, type: string, chat_id: string,
 *   reason: string, attempts: number, last_status: number | null, last_error: string | null,
 *   dead_at: string }} DeadLetter
 */

/** Why a delivery failed, in the reader's language, with the receiver's last answer. */
function why(/** @type {DeadLetter} */ d) {
  const reason = ["max_attempts", "gone", "subscription_disabled", "outbox_full"].includes(d.reason)
    ? t(`console.dead.reason_${d.reason}`)
    : d.reason;
  const last = d.last_status !== null ? `HTTP ${d.last_status}` : d.last_error ?? "";
  return [reason, t("console.dead.tries", { count: d.attempts }), last].filter(Boolean)
    .join(" · ");
}

/** The section; `urlOf` names a subscription by its URL. @param {(id: string) => string} urlOf */
export function deadLetters(urlOf) {
  const status = h("p", { class: "muted small", role: "status", id: "dead-status" });
  const title = h("h3", { id: "dead-h" });
  const hint = h("p", { class: "muted small" });
  let tbl = table("dead-letters", "", []);
  const wrap = h("div");
  const again = h("button", {
    type: "button",
    class: "small",
    id: "dead-refresh",
    on: { click: () => act(() => Promise.resolve(), "") },
  });
  const el = h(
    "section",
    { class: "dead-letters", "aria-labelledby": "dead-h" },
    h("div", { class: "tab-head" }, title, again),
    hint,
    wrap,
    status,
  );

  function frame() {
    title.textContent = t("console.dead.title");
    again.textContent = t("console.dead.refresh");
    hint.textContent = t("console.dead.hint");
    tbl = table("dead-letters", t("console.dead.title"), [
      t("console.dead.col_event"),
      t("console.webhooks.col_url"),
      t("console.dead.col_reason"),
      t("console.dead.col_when"),
      t("console.admin.col_actions"),
    ]);
    wrap.replaceChildren(tbl.wrap);
  }

  /** Runs a row's action; says what happened in the status line. */
  async function act(/** @type {() => Promise<unknown>} */ fn, /** @type {string} */ done) {
    try {
      await fn();
      await refresh();
      if (done) status.textContent = done;
    } catch (err) {
      status.textContent = errorText(err);
    }
  }

  /** @param {DeadLetter} d */
  function row(d) {
    const path = `admin/webhooks/dead-letters/${encodeURIComponent(d.id)}`;
    const what = `${d.type} · ${d.chat_id.slice(0, 8)}`;
    return h(
      "tr",
      { dataset: { deadId: d.id } },
      h(
        "th",
        { scope: "row" },
        h("code", { text: d.type }),
        h("span", { class: "muted small block", text: t("console.dead.chat", { id: d.chat_id }) }),
      ),
      h("td", { class: "clip" }, h("span", { text: urlOf(d.subscription_id) })),
      h("td", { class: "dead-why", text: why(d) }),
      h("td", { text: fmtDateTime(d.dead_at) }),
      h(
        "td",
        { class: "row-actions" },
        h("button", {
          type: "button",
          class: "small dead-replay",
          text: t("console.dead.replay"),
          "aria-label": t("console.dead.replay_named", { name: what }),
          on: {
            click: () =>
              act(() => api(`${path}/replay`, { method: "POST" }), t("console.dead.replayed")),
          },
        }),
        h("button", {
          type: "button",
          class: "small danger-ghost dead-delete",
          text: t("console.form.delete"),
          "aria-label": t("console.form.delete_named", { name: what }),
          on: {
            click: () => act(() => api(path, { method: "DELETE" }), t("console.dead.deleted")),
          },
        }),
      ),
    );
  }

  async function refresh() {
    frame();
    const page = await api("admin/webhooks/dead-letters", { query: { limit: "100" } });
    const letters = /** @type {DeadLetter[]} */ (page.dead_letters);
    tbl.body.replaceChildren(...letters.map(row));
    status.textContent = letters.length
      ? t("console.dead.count", { count: letters.length })
      : t("console.dead.none");
  }

  return { el, refresh };
}
