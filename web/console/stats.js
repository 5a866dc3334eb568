// @ts-check
/**
 * The statistics view (admins): right now (queue, active chats, waits; `GET /admin/stats`,
 * polled), and a chosen range — today, 7 or 30 days, or two dates — in the browser's time zone
 * (`GET /admin/stats/range`, by day, by operator and by queue): chats started and served, average
 * wait, first response and resolution, ratings and CSAT, with charts and tables.
 */
import { h, show } from "../dom.js";
import { fmtDate, fmtDuration, fmtNumber, fmtPercent, lang, onLanguageChange, t } from "../i18n.js";
import { api, errorText } from "./api.js";
import { chart } from "./charts.js";
import { table } from "./admin_form.js";
import { known, label } from "./roster.js";

const MAX_DAYS = 366;
const DAY = 86_400_000;

/** A date as YYYY-MM-DD in local time. */
const ymd = (/** @type {Date} */ d) =>
  `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${
    String(d.getDate()).padStart(2, "0")
  }`;

/** The days of a preset range ending today. */
export function presetRange(/** @type {number} */ days, now = new Date()) {
  const from = new Date(now.getFullYear(), now.getMonth(), now.getDate() - (days - 1));
  return { from: ymd(from), to: ymd(now) };
}

/** Every day from..to (YYYY-MM-DD). */
function daysOf(/** @type {string} */ from, /** @type {string} */ to) {
  const out = [];
  for (let d = Date.parse(`${from}T00:00:00Z`); d <= Date.parse(`${to}T00:00:00Z`); d += DAY) {
    out.push(new Date(d).toISOString().slice(0, 10));
  }
  return out;
}

const secs = (
  /** @type {number | null | undefined} */ s,
) => (s === null || s === undefined ? "—" : fmtDuration(s));
const pct = (
  /** @type {number | null | undefined} */ s,
) => (s === null || s === undefined ? "—" : fmtPercent(s));

/** @param {HTMLElement} root */
export function mountStats(root) {
  const tz = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  let range = presetRange(7);
  let preset = 7;
  let running = false;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  const now = h("dl", { class: "stats", id: "stats" });
  const status = h("p", { class: "muted small", role: "status", id: "range-status" });
  const body = h("div", { class: "range-body", id: "range-body" });
  const fromIn = /** @type {HTMLInputElement} */ (h("input", {
    type: "date",
    id: "range-from",
    "aria-describedby": "range-error",
  }));
  const toIn = /** @type {HTMLInputElement} */ (h("input", {
    type: "date",
    id: "range-to",
    "aria-describedby": "range-error",
  }));
  const error = h("p", { class: "field-error", id: "range-error", role: "alert", hidden: true });
  /** @type {HTMLElement[]} */
  let presetButtons = [];
  /** @type {any} */
  let data = null;

  function frame() {
    presetButtons = /** @type {Array<[number, string]>} */ ([
      [1, t("console.stats.today")],
      [7, t("console.stats.days7")],
      [30, t("console.stats.days30")],
    ]).map(
      ([n, text]) =>
        h("button", {
          type: "button",
          class: "small preset",
          dataset: { days: String(n) },
          "aria-pressed": String(preset === n),
          text,
          on: { click: () => choose(n) },
        }),
    );
    fromIn.value = range.from;
    toIn.value = range.to;
    root.replaceChildren(
      h("h1", { id: "stats-h", class: "view-title", text: t("console.stats.title") }),
      h(
        "section",
        { class: "panel", "aria-labelledby": "now-h" },
        h("h2", { id: "now-h", text: t("console.stats.now") }),
        now,
      ),
      h(
        "section",
        { class: "panel", "aria-labelledby": "range-h" },
        h("h2", { id: "range-h", text: t("console.stats.range") }),
        h(
          "form",
          { class: "range-form", id: "range-form", on: { submit: custom } },
          h(
            "div",
            { role: "group", class: "presets", "aria-label": t("console.stats.presets") },
            ...presetButtons,
          ),
          h("label", {}, h("span", { text: t("console.search.from") }), fromIn),
          h("label", {}, h("span", { text: t("console.search.to") }), toIn),
          h("button", {
            type: "submit",
            class: "small",
            id: "range-apply",
            text: t("console.stats.apply"),
          }),
        ),
        error,
        h("p", { class: "muted small", text: t("console.stats.tz", { tz }) }),
        status,
        body,
      ),
    );
    if (data) draw(data);
  }

  function choose(/** @type {number} */ days) {
    preset = days;
    range = presetRange(days);
    fromIn.value = range.from;
    toIn.value = range.to;
    for (const b of presetButtons) {
      b.setAttribute("aria-pressed", String(b.dataset.days === String(days)));
    }
    show(error, false);
    loadRange();
  }

  function custom(/** @type {Event} */ e) {
    e.preventDefault();
    const from = fromIn.value;
    const to = toIn.value;
    show(error, false);
    fromIn.removeAttribute("aria-invalid");
    toIn.removeAttribute("aria-invalid");
    let problem = "";
    if (!from || !to) problem = t("console.stats.need_dates");
    else if (from > to) problem = t("console.stats.order");
    else if ((Date.parse(to) - Date.parse(from)) / DAY + 1 > MAX_DAYS) {
      problem = t("console.stats.too_long", { days: MAX_DAYS });
    }
    if (problem) {
      error.textContent = problem;
      show(error);
      (from ? toIn : fromIn).setAttribute("aria-invalid", "true");
      return;
    }
    preset = 0;
    for (const b of presetButtons) b.setAttribute("aria-pressed", "false");
    range = { from, to };
    loadRange();
  }

  async function loadNow() {
    try {
      const s = await api("admin/stats");
      const rows = [
        [t("console.stats.waiting"), fmtNumber(s.queue_length)],
        [t("console.stats.active"), fmtNumber(s.active_chats)],
        [t("console.stats.wait_avg"), secs(s.wait_avg_s)],
        [t("console.stats.wait_p90"), secs(s.wait_p90_s)],
        [t("console.stats.messages"), fmtNumber(s.messages_total)],
        [
          t("console.stats.connections"),
          t("console.stats.connections_value", {
            n: fmtNumber(s.connections_total),
            peak: fmtNumber(s.peak_connections),
          }),
        ],
      ];
      now.replaceChildren(
        ...rows.map(([k, v]) =>
          h("div", { class: "stat" }, h("dt", { text: k }), h("dd", { text: v }))
        ),
      );
    } catch (err) {
      now.replaceChildren(h("p", { class: "error small", text: errorText(err) }));
    }
  }

  async function loadRange() {
    status.textContent = t("console.stats.loading");
    const q = { from: range.from, to: range.to, tz };
    try {
      const [day, operator, queue] = await Promise.all(
        ["day", "operator", "queue"].map((group) =>
          api("admin/stats/range", { query: { ...q, group } })
        ),
      );
      data = { day, operator, queue };
      status.textContent = t("console.stats.showing", {
        from: fmtDate(`${range.from}T12:00:00`),
        to: fmtDate(`${range.to}T12:00:00`),
      });
      draw(data);
    } catch (err) {
      status.textContent = t("console.stats.failed", { reason: errorText(err) });
      body.replaceChildren();
    }
  }

  /** @param {{ day: any, operator: any, queue: any }} d */
  function draw(d) {
    const m = d.day.totals;
    const kpis = [
      ["kpi-created", t("console.stats.created"), fmtNumber(m.chats_created)],
      ["kpi-served", t("console.stats.served"), fmtNumber(m.served)],
      ["kpi-wait", t("console.stats.wait_avg"), secs(m.wait_avg_s)],
      ["kpi-first", t("console.stats.first_response"), secs(m.first_response_avg_s)],
      ["kpi-resolution", t("console.stats.resolution"), secs(m.resolution_avg_s)],
      ["kpi-csat", t("console.stats.csat"), pct(m.csat)],
      [
        "kpi-rating",
        t("console.stats.rating"),
        m.rating_avg === null
          ? "—"
          : `${fmtNumber(m.rating_avg, { maximumFractionDigits: 1 })} / 5 · ${
            t("console.stats.ratings", { count: m.ratings })
          }`,
      ],
    ];
    const byDay = new Map(d.day.series.map((/** @type {any} */ s) => [s.key, s]));
    const days = daysOf(range.from, range.to);
    const dayFmt = new Intl.DateTimeFormat(lang(), {
      day: "numeric",
      month: "short",
      timeZone: "UTC",
    });
    const dayLabel = (/** @type {string} */ k) => dayFmt.format(Date.parse(`${k}T12:00:00Z`));
    const series = (/** @type {string} */ f) =>
      days.map((k) => byDay.get(k)?.[f] ?? (f.endsWith("_s") ? null : 0));
    const ops = d.operator.series;
    const opName = (/** @type {any} */ s) =>
      s.name ||
      label(
        known().find((e) => e.operator_id === s.key) ??
          {
            operator_id: s.key,
            name: null,
            role: "operator",
            status: "offline",
            connected: false,
            open_chats: 0,
            capacity: null,
            available: false,
          },
      );
    body.replaceChildren(
      h(
        "dl",
        { class: "kpis", id: "kpis" },
        ...kpis.map(([id, k, v]) =>
          h("div", { class: "kpi", id }, h("dt", { text: k }), h("dd", { text: v }))
        ),
      ),
      h(
        "div",
        { class: "charts" },
        chart({
          kind: "bar",
          label: t("console.stats.chart_chats"),
          categories: days.map(dayLabel),
          series: [
            { name: t("console.stats.created"), values: series("chats_created") },
            { name: t("console.stats.closed"), values: series("chats_closed") },
          ],
          format: (n) => fmtNumber(n),
          scale: "count",
        }),
        chart({
          kind: "line",
          label: t("console.stats.chart_times"),
          categories: days.map(dayLabel),
          series: [
            { name: t("console.stats.wait_avg"), values: series("wait_avg_s") },
            { name: t("console.stats.first_response"), values: series("first_response_avg_s") },
          ],
          format: (n) => fmtDuration(n),
          scale: "time",
        }),
        chart({
          kind: "bar",
          label: t("console.stats.chart_operators"),
          categories: ops.map(opName),
          series: [
            {
              name: t("console.stats.served"),
              values: ops.map((/** @type {any} */ s) => s.served),
            },
            {
              name: t("console.stats.resolved"),
              values: ops.map((/** @type {any} */ s) => s.resolved),
            },
          ],
          format: (n) => fmtNumber(n),
          scale: "count",
        }),
      ),
      groupTable(
        "stats-operators",
        t("console.stats.by_operator"),
        t("console.stats.col_operator"),
        ops,
        opName,
      ),
      groupTable(
        "stats-queues",
        t("console.stats.by_queue"),
        t("console.stats.col_queue"),
        d.queue.series,
        (s) => s.key,
      ),
    );
  }

  /** @param {string} id @param {string} title @param {string} first @param {any[]} rows @param {(s: any) => string} name */
  function groupTable(id, title, first, rows, name) {
    const tbl = table(id, title, [
      first,
      t("console.stats.served"),
      t("console.stats.wait_avg"),
      t("console.stats.first_response"),
      t("console.stats.resolution"),
      t("console.stats.rating"),
      t("console.stats.csat"),
    ]);
    tbl.body.replaceChildren(...rows.map((s) =>
      h(
        "tr",
        { dataset: { key: s.key } },
        h("th", { scope: "row", text: name(s) }),
        h("td", { class: "num", text: fmtNumber(s.served) }),
        h("td", { text: secs(s.wait_avg_s) }),
        h("td", { text: secs(s.first_response_avg_s) }),
        h("td", { text: secs(s.resolution_avg_s) }),
        h("td", {
          text: s.rating_avg === null ? "—" : fmtNumber(s.rating_avg, { maximumFractionDigits: 1 }),
        }),
        h("td", { text: pct(s.csat) }),
      )
    ));
    return h(
      "section",
      { class: "group-table", "aria-labelledby": `${id}-h` },
      h("h3", { id: `${id}-h`, text: title }),
      rows.length ? tbl.wrap : h("p", { class: "muted small", text: t("console.stats.no_data") }),
    );
  }

  async function tick() {
    await loadNow();
    if (running) timer = setTimeout(tick, 5000);
  }

  let builtFor = "";
  onLanguageChange(() => {
    if (builtFor) {
      builtFor = lang();
      frame();
      loadNow();
    }
  });
  return {
    start() {
      if (builtFor !== lang()) {
        builtFor = lang();
        frame();
      }
      running = true;
      tick();
      loadRange();
    },
    stop() {
      running = false;
      clearTimeout(timer);
    },
  };
}
