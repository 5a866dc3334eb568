// @ts-check
/**
 * The admin view: tabs for operators (status, capacity), the queue (priorities, routing), canned
 * responses and webhooks, each managed in the page over the admin REST. Tabs follow the ARIA
 * tabs pattern (←/→, Home/End); only the shown tab polls.
 */
import { h } from "../dom.js";
import { onLanguageChange, t } from "../i18n.js";
import { operatorsTab } from "./admin_operators.js";
import { queueTab } from "./admin_queue.js";
import { cannedTab } from "./admin_canned.js";
import { webhooksTab } from "./admin_webhooks.js";

/**
 * A tab's content: built once into `panel`; `refresh` reads the server again; `every` is the
 * polling period in ms (0: none).
 * @typedef {{ refresh(): Promise<void>, every: number }} Tab
 */

const TABS = /** @type {const} */ ([
  ["operators", operatorsTab],
  ["queue", queueTab],
  ["canned", cannedTab],
  ["webhooks", webhooksTab],
]);

/** @param {HTMLElement} root */
export function mountAdmin(root) {
  /** @type {Map<string, { tab: Tab, button: HTMLElement, panel: HTMLElement, title: HTMLElement }>} */
  const tabs = new Map();
  const title = h("h1", { id: "admin-h", class: "view-title", text: t("console.admin.title") });
  const bar = h("div", {
    role: "tablist",
    class: "tabs",
    "aria-labelledby": "admin-h",
  });
  root.replaceChildren(title, bar);
  let current = "operators";
  let running = false;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;

  for (const [name, make] of TABS) {
    const button = h("button", {
      type: "button",
      role: "tab",
      id: `admin-tab-${name}`,
      "aria-controls": `admin-panel-${name}`,
      class: "tab",
      on: {
        click: () => select(name, true),
        keydown: (/** @type {KeyboardEvent} */ e) => arrows(e),
      },
    });
    const panel = h("section", {
      role: "tabpanel",
      id: `admin-panel-${name}`,
      "aria-labelledby": `admin-tab-${name}`,
      class: "tab-panel",
      tabindex: "0",
      hidden: true,
    });
    bar.append(button);
    root.append(panel);
    tabs.set(name, { tab: make(panel), button, panel, title: button });
  }

  function labels() {
    title.textContent = t("console.admin.title");
    for (const [name, x] of tabs) x.button.textContent = t(`console.admin.tab_${name}`);
  }

  /** @param {KeyboardEvent} e */
  function arrows(e) {
    const names = [...tabs.keys()];
    const i = names.indexOf(current);
    const to = e.key === "ArrowRight"
      ? names[(i + 1) % names.length]
      : e.key === "ArrowLeft"
      ? names[(i + names.length - 1) % names.length]
      : e.key === "Home"
      ? names[0]
      : e.key === "End"
      ? names[names.length - 1]
      : null;
    if (!to) return;
    e.preventDefault();
    select(to, true);
  }

  function select(/** @type {string} */ name, focus = false) {
    current = name;
    for (const [n, x] of tabs) {
      const on = n === name;
      x.button.setAttribute("aria-selected", String(on));
      x.button.tabIndex = on ? 0 : -1;
      x.panel.hidden = !on;
    }
    if (focus) tabs.get(name)?.button.focus();
    if (running) poll();
  }

  async function poll() {
    clearTimeout(timer);
    const x = tabs.get(current);
    if (!x || !running) return;
    await x.tab.refresh();
    if (running && x.tab.every && current === [...tabs.keys()].find((n) => tabs.get(n) === x)) {
      timer = setTimeout(poll, x.tab.every);
    }
  }

  labels();
  select(current);
  onLanguageChange(() => {
    labels();
    if (running) tabs.get(current)?.tab.refresh();
  });
  return {
    start() {
      running = true;
      poll();
    },
    stop() {
      running = false;
      clearTimeout(timer);
    },
  };
}
