/**
 * Alerts while the widget's tab is in the background (headless Chromium, notifications granted to
 * the page's origin, the tab hidden as browsers tell a page), in English and Russian: an agent
 * joining, their messages, a lawyer assigned and the lawyer's first message each start the chime
 * and show a desktop notification; the title and the favicon count what is unread; nothing is
 * reported read while hidden. Clicking the lawyer's notification opens the lawyer tab; coming back
 * to the tab clears the counts and tells the agent what was read. Permission is asked only when
 * the reader asks (the queue's "Notify me" or the menu), never by the page on its own.
 */
import assert from "node:assert/strict";
import type { Browser, Page } from "playwright-core";
import { startTestServer } from "../integration/_harness.ts";
import { assertAccessible } from "./_a11y.ts";
import { launchBrowser, screenshot } from "./_browser.ts";
import {
  type Lang,
  recordAlerts,
  setHidden,
  type Shown,
  shown,
  Staff,
  storedChat,
  text,
  tones,
} from "./_widget.ts";

// Page globals, used inside `page.evaluate` callbacks.
// deno-lint-ignore no-explicit-any
declare const document: any, Image: any;

const PEOPLE = {
  en: { anna: "Anna Smirnova", lawyer: "Pavel Lebedev", reason: "Refund dispute" },
  ru: { anna: "Анна Смирнова", lawyer: "Павел Лебедев", reason: "Спор о возврате" },
};

for (const lang of ["en", "ru"] as const) {
  Deno.test({
    name: `browser: widget (${lang}) in a background tab: chime, desktop notification, title ` +
      "and favicon count for an agent, messages and a lawyer; cleared when the tab is back",
    sanitizeOps: false,
    sanitizeResources: false,
    fn: () => backgroundFlow(lang),
  });
  Deno.test({
    name: `browser: widget (${lang}) asks for notifications only when the reader asks, from ` +
      "the queue: allowed, the next message notifies; refused, the menu entry is disabled",
    sanitizeOps: false,
    sanitizeResources: false,
    fn: () => askFlow(lang),
  });
}

/** Waits until the page has shown notification number `n` (1-based) and resolves with it. */
async function nthNotification(page: Page, n: number): Promise<Shown> {
  await page.waitForFunction(
    (k) => (globalThis as unknown as { __shown: Shown[] }).__shown.length >= k,
    n,
  );
  return (await shown(page))[n - 1];
}

/** The favicon's pixel inside the count's red badge, left of its digit: `[r, g, b]`. */
function badgePixel(page: Page) {
  return page.evaluate(async () => {
    const img = new Image();
    img.src = document.querySelector("#favicon").href;
    await img.decode();
    const c = document.createElement("canvas");
    c.width = c.height = 64;
    const g = c.getContext("2d");
    g.drawImage(img, 0, 0);
    return [...g.getImageData(33, 12, 1, 1).data.slice(0, 3)] as number[];
  });
}

const isRed = ([r, g, b]: number[]) => r > 180 && g < 80 && b < 80;

async function backgroundFlow(lang: Lang) {
  const who = PEOPLE[lang];
  const tx = (key: string, params?: Record<string, string | number>) => text(lang, key, params);
  const server = await startTestServer();
  const anna = await Staff.connect(server, "op-1", "operator", who.anna);
  let lawyer: Staff | null = null;
  let browser: Browser | null = null;
  try {
    browser = await launchBrowser();
    const context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
    await context.grantPermissions(["notifications"], { origin: server.url });
    await context.addInitScript(recordAlerts);
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.setDefaultTimeout(10_000);
    const base = await tx("widget.page_title");

    await page.goto(`${server.url}/?lang=${lang}`);
    await page.locator("#start-view").waitFor(); // drawn: the menu's state is set
    await page.click("#menu-btn");
    assert.equal(await page.locator("#notify-btn").getAttribute("aria-pressed"), "true");
    await page.keyboard.press("Escape");
    // The click on "Start chat" is the gesture that lets the page play sound.
    await page.click("#start-btn");
    await page.locator("#queue-banner").waitFor();
    const support = await storedChat(page);
    await setHidden(page, true);

    // An agent joins while the tab is in the background: a chime and a notification.
    await anna.ok("accept_chat", { chat_id: support.chat_id });
    const joined = await nthNotification(page, 1);
    assert.deepEqual(
      [joined.title, joined.body],
      [base, await tx("widget.note.agent_joined_named", { name: who.anna })],
    );
    await page.waitForFunction(() =>
      (globalThis as unknown as { __tones: number[] }).__tones.length >= 2
    );
    assert.deepEqual((await tones(page)).slice(0, 2), [660, 880], "the two notes of the chime");

    // Their messages: notified with the text, counted in the title and on the favicon.
    await anna.say(support.chat_id, "Your order ships today.");
    const first = await nthNotification(page, 2);
    assert.deepEqual(
      [first.title, first.body],
      [await tx("widget.alert.message", { name: who.anna }), "Your order ships today."],
    );
    await anna.say(support.chat_id, "The tracking number follows.");
    await nthNotification(page, 3);
    await page.waitForFunction((t) => document.title === t, `(2) ${base}`);
    assert.equal(await page.locator("#favicon").getAttribute("data-count"), "2");
    assert.ok(isRed(await badgePixel(page)), "the favicon carries the red count");
    await assertAccessible(page, `${lang} background, two unread`);
    await screenshot(page, `widget-${lang}-alerts-1-background`);

    // A lawyer is assigned and writes before the widget has the lawyer chat's token (held back
    // here), so the message comes in the chat's first replay: it alerts all the same, with the
    // lawyer's name in the notification's title.
    let release = () => {};
    const held = new Promise<void>((r) => release = r);
    await page.route("**/api/v1/chat/me/chats*", async (route) => {
      await held;
      await route.continue();
    });
    lawyer = await Staff.connect(server, "law-1", "lawyer", who.lawyer);
    const lawyerChat = await anna.assignLawyer(support.chat_id, "law-1", who.reason);
    const note = await nthNotification(page, 4);
    assert.equal(note.title, base);
    assert.ok(
      note.body.startsWith(await tx("widget.note.lawyer_named", { name: who.lawyer })),
      note.body,
    );
    await lawyer.say(lawyerChat, "I am your lawyer.");
    release();
    await page.locator("#tabs").waitFor();
    await page.waitForFunction((t) => document.title === t, `(3) ${base}`);
    const shownNow = await shown(page);
    const fromLawyer = shownNow.findIndex((s) => s.body === "I am your lawyer.");
    assert.ok(fromLawyer >= 0, JSON.stringify(shownNow));
    assert.equal(shownNow[fromLawyer].title, await tx("widget.alert.lawyer", { name: who.lawyer }));
    assert.equal(await page.locator("#tab-lawyer .badge").textContent(), "1");
    await assertAccessible(page, `${lang} background, a lawyer's message`);
    await screenshot(page, `widget-${lang}-alerts-2-lawyer-unread`);

    // Nothing was reported read while the tab was hidden.
    const readBefore = anna.ws.frames.filter((f) =>
      f.type === "read" && f.payload.role === "client"
    );
    assert.deepEqual(readBefore, [], "no read receipts from a hidden tab");

    // A click on the lawyer's notification opens the lawyer tab; back in front, it is read.
    await page.evaluate(
      (i) =>
        (globalThis as unknown as { __notes: Array<{ onclick(): void }> }).__notes[i].onclick(),
      fromLawyer,
    );
    assert.equal(await page.locator("#tab-lawyer").getAttribute("aria-selected"), "true");
    await setHidden(page, false);
    await page.waitForFunction((t) => document.title === t, `(2) ${base}`);
    await page.locator("#tab-lawyer .badge").waitFor({ state: "detached" });
    await page.locator("#tab-support .badge", { hasText: "2" }).waitFor();

    // The support tab: all read, the title and the favicon back to normal, the agent told.
    await page.click("#tab-support");
    await page.waitForFunction((t) => document.title === t, base);
    assert.equal(await page.locator("#favicon").getAttribute("data-count"), "0");
    assert.ok(!isRed(await badgePixel(page)), "the favicon without a count");
    const read = await anna.ws.next((f) =>
      f.type === "read" && f.payload.chat_id === support.chat_id && f.payload.role === "client"
    );
    assert.ok(Number(read.payload.last_read_seq) >= 4, JSON.stringify(read.payload));
    // In front of the reader, a message makes no sound and no notification.
    const before = [(await shown(page)).length, (await tones(page)).length];
    await anna.say(support.chat_id, "Anything else?");
    await page.locator("#messages li.msg.theirs", { hasText: "Anything else?" }).waitFor();
    assert.deepEqual([(await shown(page)).length, (await tones(page)).length], before);
    assert.equal(await page.title(), base);
    await assertAccessible(page, `${lang} back in front`);
    await screenshot(page, `widget-${lang}-alerts-3-back`);
    assert.deepEqual(errors, []);
  } finally {
    await anna.close();
    await lawyer?.close();
    await browser?.close();
    await server.shutdown();
  }
}

/** Counts `Notification.requestPermission` calls, before the page's own scripts run. */
function countAsks() {
  // deno-lint-ignore no-explicit-any
  const w = globalThis as any;
  w.__asks = 0;
  const ask = w.Notification.requestPermission.bind(w.Notification);
  w.Notification.requestPermission = () => (w.__asks++, ask());
}

async function askFlow(lang: Lang) {
  const tx = (key: string, params?: Record<string, string | number>) => text(lang, key, params);
  const server = await startTestServer();
  const anna = await Staff.connect(server, "op-1", "operator", PEOPLE[lang].anna);
  let browser: Browser | null = null;
  try {
    browser = await launchBrowser();
    for (const allow of [true, false]) {
      const context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
      await context.addInitScript(recordAlerts);
      await context.addInitScript(countAsks);
      const page = await context.newPage();
      page.setDefaultTimeout(10_000);
      await page.goto(`${server.url}/?lang=${lang}`);
      await page.click("#start-btn");
      const ask = page.locator("#queue-notify-btn", { hasText: await tx("widget.queue.notify") });
      await ask.waitFor();
      assert.equal(await page.evaluate(() => (globalThis as { __asks?: number }).__asks), 0);
      if (allow) {
        await assertAccessible(page, `${lang} queue, notifications not asked yet`);
        await screenshot(page, `widget-${lang}-alerts-4-ask`);
        // The reader allows them in the browser's prompt (headless Chromium shows none).
        await context.grantPermissions(["notifications"], { origin: server.url });
      }
      await ask.click();
      await ask.waitFor({ state: "hidden" });
      assert.equal(await page.evaluate(() => (globalThis as { __asks?: number }).__asks), 1);
      await page.click("#menu-btn");
      const entry = page.locator("#notify-btn");
      assert.equal(await entry.getAttribute("aria-pressed"), String(allow));
      assert.equal(await entry.isDisabled(), !allow);
      await page.keyboard.press("Escape");
      if (allow) {
        const { chat_id } = await storedChat(page);
        await anna.ok("accept_chat", { chat_id });
        await page.locator("#title", { hasText: PEOPLE[lang].anna }).waitFor();
        await setHidden(page, true);
        await anna.say(chat_id, "Back with news.");
        await page.waitForFunction(() =>
          (globalThis as unknown as { __shown: Shown[] }).__shown.some((n) =>
            n.body === "Back with news."
          )
        );
      }
      await context.close();
    }
  } finally {
    await anna.close();
    await browser?.close();
    await server.shutdown();
  }
}
