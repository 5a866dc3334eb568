// @ts-check
/**
 * Alerts for what needs the operator while they look elsewhere: a new chat in the queue, an
 * offer, a chat transferred to them, a message in their chats, a mention in a note.
 *
 * - Sound: a short chime through WebAudio, played only after the page had a user gesture
 *   (browsers refuse audio before one; the first click or key unlocks it).
 * - Desktop notification: only when the tab is in the background, and only once the operator
 *   allowed it (the permission is asked from the alerts dialog, after a click; never on load).
 * - The tab's title counts what happened while it was in the background, and the favicon gets a
 *   badge with that count (drawn on a canvas, set as a data: URL, which the CSP allows).
 * - Settings (sound, desktop, mute all) are kept in localStorage.
 */
import { byId, h, safeStorage, show } from "../dom.js";
import { fmtNumber, t } from "../i18n.js";
import { drawCountBadge, playTones } from "../alert_media.js";

const KEY = "supportchat.console.alerts";
/** @typedef {"queue" | "offer" | "transfer" | "message" | "mention"} AlertKind */

const storage = safeStorage();
const settings = { sound: true, desktop: false, muted: false };
try {
  Object.assign(settings, JSON.parse(storage.getItem(KEY) ?? "{}"));
} catch { /* defaults */ }

/** @type {AudioContext | null} */
let audio = null;
let count = 0;
let baseTitle = "";
/** @type {string} */
let baseIcon = "";
/** @type {(chatId: string) => void} */
let openChat = () => {};

const save = () => storage.setItem(KEY, JSON.stringify(settings));
const hidden = () => document.visibilityState !== "visible";

/** Browsers allow audio after a user gesture: make the context on the first one. */
function unlock() {
  if (audio) return;
  const Ctx = globalThis.AudioContext ?? /** @type {any} */ (globalThis).webkitAudioContext;
  if (!Ctx) return;
  audio = new Ctx();
  removeEventListener("pointerdown", unlock, true);
  removeEventListener("keydown", unlock, true);
}

/** Two short tones (higher for what is addressed to me). */
function chime(/** @type {AlertKind} */ kind) {
  if (!audio) return;
  const tones = kind === "message" ? [660] : kind === "queue" ? [520, 660] : [660, 880];
  playTones(audio, tones, { step: 0.16, peak: 0.2, fade: 0.15, stop: 0.16 });
}

/** A favicon: a speech bubble, with a red count when `n` > 0 (canvas → PNG data URL). */
export function faviconUrl(/** @type {number} */ n) {
  const c = document.createElement("canvas");
  c.width = c.height = 32;
  const g = c.getContext("2d");
  if (!g) return "data:,";
  g.fillStyle = "#2563eb";
  g.beginPath();
  g.roundRect(2, 4, 24, 18, 5);
  g.fill();
  g.beginPath();
  g.moveTo(8, 21);
  g.lineTo(6, 28);
  g.lineTo(14, 21);
  g.fill();
  if (n > 0) drawCountBadge(g, n, 22, 12, 10, "bold 13px sans-serif");
  return c.toDataURL("image/png");
}

function paint() {
  const icon = /** @type {HTMLLinkElement} */ (byId("favicon"));
  if (count === 0) {
    icon.href = baseIcon;
    document.title = baseTitle;
  } else {
    icon.href = faviconUrl(count);
    document.title = `(${fmtNumber(count)}) ${baseTitle}`;
  }
}

/** The title without a count (after a language switch, say). */
export function setBaseTitle(/** @type {string} */ title) {
  baseTitle = title;
  paint();
}

/**
 * Something needs the operator. `chatId` is the chat it is about (a click on the notification
 * opens it); `activeChat` the chat on screen now.
 * @param {AlertKind} kind
 * @param {{ title: string, body?: string, chatId?: string, activeChat?: string | null }} what
 */
export function alertOf(kind, what) {
  if (settings.muted) return;
  const away = hidden();
  if (!away && what.chatId && what.chatId === what.activeChat) return; // already in view
  if (settings.sound) chime(kind);
  if (!away) return;
  count++;
  paint();
  if (settings.desktop && globalThis.Notification?.permission === "granted") {
    try {
      const n = new Notification(what.title, {
        body: what.body ?? "",
        tag: `${kind}:${what.chatId ?? ""}`,
        icon: faviconUrl(0),
      });
      n.onclick = () => {
        globalThis.focus();
        if (what.chatId) openChat(what.chatId);
        n.close();
      };
    } catch { /* not allowed here (some mobile browsers): the title and icon still count */ }
  }
}

/** The alerts dialog's fields (after a language switch too). */
function renderSettings() {
  const perm = /** @type {string} */ (globalThis.Notification?.permission ?? "unsupported");
  const box = (/** @type {string} */ id, /** @type {string} */ text, /** @type {boolean} */ on) =>
    h(
      "label",
      { class: "check" },
      h("input", { type: "checkbox", id, checked: on }),
      h("span", { text }),
    );
  byId("alerts-fields").replaceChildren(
    box("alert-mute", t("console.alerts.mute"), settings.muted),
    box("alert-sound", t("console.alerts.sound"), settings.sound),
    box("alert-desktop", t("console.alerts.desktop"), settings.desktop && perm === "granted"),
    h("p", {
      class: "muted small",
      id: "alert-permission",
      text: perm === "denied"
        ? t("console.alerts.denied")
        : perm === "unsupported"
        ? t("console.alerts.unsupported")
        : t("console.alerts.when"),
    }),
    h("button", { type: "button", id: "alert-test", text: t("console.alerts.test") }),
  );
  byId("alert-mute").addEventListener("change", (e) => {
    settings.muted = /** @type {HTMLInputElement} */ (e.target).checked;
    save();
    byId("alerts-btn").classList.toggle("muted", settings.muted);
  });
  byId("alert-sound").addEventListener("change", (e) => {
    settings.sound = /** @type {HTMLInputElement} */ (e.target).checked;
    save();
  });
  byId("alert-desktop").addEventListener("change", async (e) => {
    const input = /** @type {HTMLInputElement} */ (e.target);
    if (input.checked && globalThis.Notification && Notification.permission === "default") {
      await Notification.requestPermission(); // asked now: the operator just clicked
    }
    settings.desktop = input.checked && globalThis.Notification?.permission === "granted";
    save();
    renderSettings();
    byId("alert-desktop").focus();
  });
  byId("alert-test").addEventListener("click", () => {
    unlock();
    chime("offer");
  });
}

/**
 * Wires the alerts: the dialog behind the bell, the gesture that unlocks audio, the count
 * cleared when the tab is looked at again.
 * @param {(chatId: string) => void} open
 */
export function installAlerts(open) {
  openChat = open;
  baseTitle = document.title;
  baseIcon = faviconUrl(0);
  paint();
  addEventListener("pointerdown", unlock, true);
  addEventListener("keydown", unlock, true);
  document.addEventListener("visibilitychange", () => {
    if (!hidden() && count) {
      count = 0;
      paint();
    }
  });
  const dialog = /** @type {HTMLDialogElement} */ (byId("alerts-dialog"));
  byId("alerts-btn").classList.toggle("muted", settings.muted);
  byId("alerts-btn").addEventListener("click", () => {
    renderSettings();
    dialog.showModal();
    byId("alert-mute").focus();
  });
  byId("alerts-close").addEventListener("click", () => dialog.close());
  show(byId("alerts-btn"));
}

/** How many alerts the title shows now (tests and the inbox badge). */
export function pending() {
  return count;
}
