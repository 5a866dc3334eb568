// @ts-check
/**
 * Alerts while the reader is not looking (the tab in the background, or the embed's panel
 * closed): a short chime made with WebAudio (no sound file; allowed once a click or key press in
 * the page unlocked audio), the unread count in the title ("(2) Support chat") and on the
 * favicon (drawn on a canvas, a `data:` URL as the CSP's `img-src` allows), and a desktop
 * notification when the reader allowed them — permission is asked only when they ask for it.
 */
import { drawCountBadge, playTones } from "./alert_media.js";

/** @typedef {{ title: string, body: string, tag: string, onClick?: () => void }} Note */

const ICON_SIZE = 64;
/** The chime is not repeated more often than this (a burst of messages: one sound). */
const CHIME_GAP_MS = 1500;

export class Alerts {
  /** @type {AudioContext | null} */
  #audio = null;
  #lastChime = 0;
  #count = 0;
  #baseIcon = "";
  #link;
  #baseTitle;

  /**
   * @param {HTMLLinkElement} link the page's `<link rel="icon">`
   * @param {() => string} baseTitle the page's title without the count
   */
  constructor(link, baseTitle) {
    this.#link = link;
    this.#baseTitle = baseTitle;
    this.#baseIcon = drawIcon(0);
    this.#link.href = this.#baseIcon;
    // Audio may start only after a gesture in the page: make the context on the first one.
    const unlock = () => {
      this.#unlockAudio();
      removeEventListener("pointerdown", unlock, true);
      removeEventListener("keydown", unlock, true);
    };
    addEventListener("pointerdown", unlock, true);
    addEventListener("keydown", unlock, true);
  }

  #unlockAudio() {
    const Ctx = globalThis.AudioContext ?? /** @type {any} */ (globalThis).webkitAudioContext;
    if (!Ctx || this.#audio) return;
    try {
      this.#audio = new Ctx();
      void this.#audio?.resume().catch(() => {});
    } catch { /* no audio here */ }
  }

  /** Two soft rising notes, about a third of a second. */
  chime() {
    const ctx = this.#audio;
    if (!ctx || ctx.state !== "running" || Date.now() - this.#lastChime < CHIME_GAP_MS) return;
    this.#lastChime = Date.now();
    playTones(ctx, [660, 880], { step: 0.14, peak: 0.12, fade: 0.18, stop: 0.2 });
  }

  /** Whether desktop notifications may be shown ("granted"), asked, or are refused. */
  get permission() {
    return "Notification" in globalThis ? Notification.permission : "unsupported";
  }

  /** Asks for notifications (call from a click). Resolves with the permission. */
  async askPermission() {
    if (!("Notification" in globalThis)) return "unsupported";
    try {
      return await Notification.requestPermission();
    } catch {
      return Notification.permission;
    }
  }

  /** A chime, and a desktop notification if they are allowed. @param {Note} n */
  notify(n) {
    this.chime();
    if (this.permission !== "granted") return;
    try {
      const note = new Notification(n.title, {
        body: n.body,
        tag: n.tag,
        lang: document.documentElement.lang,
      });
      note.onclick = () => {
        focus();
        n.onClick?.();
        note.close();
      };
    } catch { /* some browsers allow notifications only from a service worker */ }
  }

  /** Shows `count` unread in the title and on the favicon (0: back to normal). */
  setCount(/** @type {number} */ count) {
    const base = this.#baseTitle();
    document.title = count > 0 ? `(${count > 99 ? "99+" : count}) ${base}` : base;
    if (count === this.#count) return;
    this.#count = count;
    this.#link.href = count > 0 ? drawIcon(count) : this.#baseIcon;
    this.#link.dataset.count = String(count);
  }
}

/** The page's icon — a white speech bubble on blue — with a red count when `count` > 0. */
function drawIcon(/** @type {number} */ count) {
  const c = document.createElement("canvas");
  c.width = c.height = ICON_SIZE;
  const g = c.getContext("2d");
  if (!g) return "data:,";
  g.fillStyle = "#2563eb";
  g.beginPath();
  g.roundRect(0, 0, ICON_SIZE, ICON_SIZE, 14);
  g.fill();
  g.fillStyle = "#fff";
  g.beginPath();
  g.roundRect(13, 16, 38, 26, 7);
  g.moveTo(22, 41);
  g.lineTo(20, 51);
  g.lineTo(32, 41);
  g.fill();
  if (count > 0) drawCountBadge(g, count, 46, 18, 18, "bold 24px system-ui, sans-serif");
  return c.toDataURL("image/png");
}
