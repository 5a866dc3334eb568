/**
 * Helpers of the widget's browser tests: staff on the WebSocket (no console page needed), the
 * widget's texts in a language, the background-tab emulation, and layout measurements.
 */
import assert from "node:assert/strict";
import type { Frame, Page } from "playwright-core";
import { type TestServer, WsClient } from "../integration/_harness.ts";

// Page globals, used inside `page.evaluate` callbacks (the tests' type check has no DOM library).
// deno-lint-ignore no-explicit-any
declare const document: any, getComputedStyle: any, OscillatorNode: any;

export type Lang = "en" | "ru";

const LOCALES = new URL("../../web/locales/", import.meta.url);
const catalogues = new Map<string, Record<string, string | Record<string, string>>>();

/** A catalogue text as the page shows it: `{name}` filled in, a plural form picked for `count`. */
export async function text(
  lang: Lang,
  key: string,
  params: Record<string, string | number> = {},
): Promise<string> {
  let cat = catalogues.get(lang);
  if (!cat) {
    cat = JSON.parse(await Deno.readTextFile(new URL(`${lang}.json`, LOCALES)));
    catalogues.set(lang, cat!);
  }
  const entry = cat![key];
  assert.ok(entry !== undefined, `${lang}: no ${key}`);
  const form = typeof entry === "string"
    ? entry
    : entry[new Intl.PluralRules(lang).select(Number(params.count ?? 0))] ?? entry.other;
  return form.replaceAll("#", String(params.count ?? "")).replace(
    /\{(\w+)\}/g,
    (_, k) => String(params[k]),
  );
}

/** A staff member on the WebSocket, with the steps the widget's tests need. */
export class Staff {
  private constructor(readonly ws: WsClient, readonly id: string) {}

  static async connect(server: TestServer, id: string, role: "operator" | "lawyer", name: string) {
    const ws = await WsClient.connect(server.wsUrl(await server.staffToken(id, role, name)));
    return new Staff(ws, id);
  }

  async ok(type: string, payload: Record<string, unknown>) {
    const reply = await this.ws.request(type, payload);
    assert.equal(reply.type, "ack", `${this.id} ${type}: ${JSON.stringify(reply.payload)}`);
    return reply;
  }

  say(chatId: string, text: string, attachments?: string[]) {
    return this.ok("message", { chat_id: chatId, text, ...(attachments ? { attachments } : {}) });
  }

  /** Hands the client of `chatId` to a lawyer; resolves with the lawyer chat's id. */
  async assignLawyer(chatId: string, lawyerId: string, reason: string): Promise<string> {
    const reply = await this.ok("assign_lawyer", { chat_id: chatId, lawyer_id: lawyerId, reason });
    return String(reply.payload.chat_id);
  }

  /** The next message the client sends in `chatId` with this text. */
  heard(chatId: string, text: string) {
    return this.ws.next((f) =>
      f.type === "message" && f.payload.chat_id === chatId && f.payload.message === text
    );
  }

  close() {
    return this.ws.close();
  }
}

export interface Shown {
  title: string;
  body: string;
  tag: string;
}

/**
 * Records, before the page's own scripts run, every desktop notification it shows (the real
 * `Notification` still shows it) and every tone it starts (WebAudio oscillators).
 */
export function recordAlerts() {
  // deno-lint-ignore no-explicit-any
  const w = globalThis as any;
  w.__shown = [];
  w.__notes = [];
  w.__tones = [];
  const Real = w.Notification;
  w.Notification = new Proxy(Real, {
    construct(target, args): object {
      const opts = args[1] ?? {};
      w.__shown.push({ title: args[0], body: opts.body ?? "", tag: opts.tag ?? "" });
      const note: object = Reflect.construct(target, args);
      w.__notes.push(note);
      return note;
    },
    get: (target, key) => Reflect.get(target, key),
  });
  const start = OscillatorNode.prototype.start;
  OscillatorNode.prototype.start = function (this: { frequency: { value: number } }, ...a: []) {
    w.__tones.push(this.frequency.value);
    return start.apply(this, a);
  };
}

export const shown = (page: Page | Frame) =>
  page.evaluate(() => (globalThis as unknown as { __shown: Shown[] }).__shown);
export const tones = (page: Page | Frame) =>
  page.evaluate(() => (globalThis as unknown as { __tones: number[] }).__tones);

/**
 * A shop's page on a port of its own (another origin than the chat server's) with the embed's
 * one script tag, and `window.supportChatSettings` when `settings` are given.
 */
export function startShop(chatServerUrl: string, settings?: Record<string, unknown>) {
  const vouch = settings
    ? `<script>window.supportChatSettings = ${JSON.stringify(settings)};</script>`
    : "";
  const html = `<!doctype html><html lang="en"><head><title>Shop</title></head><body>
    <main><h1>Signed in as Anna</h1></main>
    ${vouch}
    <script src="${chatServerUrl}/embed.js" async></script></body></html>`;
  return Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response(html, { headers: { "content-type": "text/html; charset=utf-8" } }),
  );
}

/** The chat the widget keeps (support, or the lawyer chat). */
export async function storedChat(page: Page, key = "supportchat.session") {
  return await page.evaluate(
    (k) =>
      JSON.parse(localStorage.getItem(k) ?? "null") as { chat_id: string; client_token: string },
    key,
  );
}

/** Makes the page believe its tab went to the background (or came back), as browsers tell it. */
export async function setHidden(page: Page, hidden: boolean) {
  await page.evaluate((h) => {
    for (const [k, v] of [["hidden", h], ["visibilityState", h ? "hidden" : "visible"]]) {
      Object.defineProperty(document, k as string, { configurable: true, get: () => v });
    }
    document.dispatchEvent(new Event("visibilitychange"));
  }, hidden);
}

/** What has focus: its id (or class), and whether it shows a ring of at least 2 px. */
export async function focusState(page: Page) {
  return await page.evaluate(() => {
    const el = document.activeElement;
    const style = getComputedStyle(el);
    const ring = (style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2) ||
      style.boxShadow !== "none";
    return { id: `${el.tagName.toLowerCase()}#${el.id || el.className}`, ring };
  });
}

/**
 * Presses Tab (Shift+Tab when `back`) until `selector` has focus, at most `max` times; fails
 * when it is not reached or when anything focused on the way shows no visible ring.
 */
export async function tabTo(page: Page, selector: string, back = false, max = 25) {
  const path: string[] = [];
  for (let i = 0; i < max; i++) {
    await page.keyboard.press(back ? "Shift+Tab" : "Tab");
    const now = await focusState(page);
    path.push(now.id);
    assert.ok(now.ring, `focus on ${now.id} is not visible (path: ${path.join(" > ")})`);
    if (await page.locator(selector).evaluate((el) => el === document.activeElement)) return;
  }
  throw new Error(`Tab never reached ${selector}: ${path.join(" > ")}`);
}

/** How far a scrolled list is from its bottom (px). */
export async function distanceFromBottom(page: Page, selector: string) {
  return await page.locator(selector).evaluate((el) =>
    el.scrollHeight - el.clientHeight - el.scrollTop
  );
}

/** Whether the element is within its scrolled list's visible part. */
export async function inListView(page: Page, list: string, item: string) {
  return await page.evaluate(([l, i]) => {
    const box = document.querySelector(l)!.getBoundingClientRect();
    const el = document.querySelector(i);
    if (!el) return false;
    const r = el.getBoundingClientRect();
    return r.top >= box.top - 1 && r.bottom <= box.bottom + 1;
  }, [list, item]);
}

/**
 * Every visible control in the widget that is smaller than 44×44 px (WCAG 2.5.5's size, and
 * Apple's), or an input under 16 px (iOS zooms into those): `[]` when all are fine.
 */
export async function smallTargets(page: Page, root = "#widget") {
  return await page.evaluate((sel) => {
    const out: string[] = [];
    for (
      const el of document.querySelectorAll(
        `${sel} button, ${sel} input, ${sel} select, ${sel} textarea, ${sel} a[href]`,
      )
    ) {
      const r = el.getBoundingClientRect();
      const style = getComputedStyle(el);
      if (r.width === 0 || r.height === 0 || style.visibility === "hidden") continue;
      const name = `${el.tagName.toLowerCase()}#${el.id || el.className}`;
      if (r.width < 44 || r.height < 44) {
        out.push(`${name} ${Math.round(r.width)}×${Math.round(r.height)}`);
      }
      if (el.matches("input, select, textarea") && parseFloat(style.fontSize) < 16) {
        out.push(`${name} font ${style.fontSize}`);
      }
    }
    return out;
  }, root);
}

/** Fails when the page scrolls sideways. */
export async function assertNoSideScroll(page: Page, state: string) {
  const [scroll, client] = await page.evaluate(() => [
    document.documentElement.scrollWidth,
    document.documentElement.clientWidth,
  ]);
  assert.ok(scroll <= client, `${state}: page is ${scroll}px wide in a ${client}px viewport`);
}
