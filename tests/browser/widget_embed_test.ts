/**
 * The widget embedded in a shop's page with its one script tag (headless Chromium, the browser's
 * language English or Russian): the floating button is named in the reader's language; with the
 * panel closed, the agent's messages chime in the frame and count on the button (badge and
 * name); opening the panel by keyboard clears the count, puts focus in the composer and tells
 * the agent what was read; Escape closes it and gives focus back to the button.
 */
import assert from "node:assert/strict";
import type { Browser, Frame } from "playwright-core";
import { startTestServer } from "../integration/_harness.ts";
import { assertAccessible } from "./_a11y.ts";
import { launchBrowser, screenshot } from "./_browser.ts";
import { type Lang, recordAlerts, Staff, startShop, text, tones } from "./_widget.ts";

// Page globals, used inside `evaluate` callbacks.
// deno-lint-ignore no-explicit-any
declare const document: any;

const ANNA = { en: "Anna Smirnova", ru: "Анна Смирнова" };

for (const lang of ["en", "ru"] as const) {
  Deno.test({
    name: `browser: embedded widget (${lang}): the button in the reader's language, unread ` +
      "count and chime while the panel is closed, cleared and read when it opens",
    sanitizeOps: false,
    sanitizeResources: false,
    fn: () => embedFlow(lang),
  });
}

async function embedFlow(lang: Lang) {
  const tx = (key: string, params?: Record<string, string | number>) => text(lang, key, params);
  const server = await startTestServer();
  const shop = startShop(server.url);
  const anna = await Staff.connect(server, "op-1", "operator", ANNA[lang]);
  let browser: Browser | null = null;
  try {
    browser = await launchBrowser();
    const context = await browser.newContext({
      viewport: { width: 1000, height: 760 },
      locale: lang === "ru" ? "ru-RU" : "en-US",
    });
    await context.addInitScript(recordAlerts);
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.setDefaultTimeout(10_000);
    await page.goto(`http://localhost:${shop.addr.port}/`);

    // The button, named by the widget in the browser's language.
    const button = page.locator("#supportchat-button");
    await page.waitForFunction(
      (name) => document.querySelector("#supportchat-button")?.getAttribute("aria-label") === name,
      await tx("widget.embed.open"),
    );
    await assertAccessible(page, `${lang} shop with the chat button`);
    await button.click();
    const frame = page.frameLocator("#supportchat-frame");
    const inner = (await (await page.$("#supportchat-frame"))!.contentFrame()) as Frame;
    await frame.locator("#name").waitFor();
    assert.equal(await inner.evaluate(() => document.activeElement.id), "name");
    assert.equal(await inner.evaluate(() => document.documentElement.lang), lang);
    await frame.locator("#start-btn").click();
    await frame.locator("#queue-banner").waitFor();
    // The frame's storage is partitioned away from the test: the chat is the queue's only one.
    const [waiting] = (await server.svc.queueSnapshot()).waiting;
    const chatId = waiting.chatId;
    await anna.ok("accept_chat", { chat_id: chatId });
    await frame.locator("#title", { hasText: ANNA[lang] }).waitFor();

    // Escape closes the panel; focus is back on the button.
    await page.keyboard.press("Escape");
    await page.locator("#supportchat-frame").waitFor({ state: "hidden" });
    assert.equal(await page.evaluate(() => document.activeElement.id), "supportchat-button");
    assert.deepEqual(
      await button.evaluate((b) => [b.style.outlineStyle, parseFloat(b.style.outlineWidth)]),
      ["solid", 3],
      "the button shows its focus",
    );

    // Two messages while the panel is closed: a chime, the count on the button and in its name.
    const heard = (await tones(inner)).length;
    const from = anna.ws.frames.length;
    const first = await anna.say(chatId, "Your refund is on its way.");
    const last = await anna.say(chatId, "It takes three days.");
    // A read of these two (the widget's read of `chat_assigned`, sent while the panel was still
    // open, may reach Anna only now: it reads nothing new).
    const readNow = (f: { type: string; payload: Record<string, unknown> }) =>
      f.type === "read" && f.payload.chat_id === chatId && f.payload.role === "client" &&
      Number(f.payload.last_read_seq) >= Number(first.payload.seq);
    const badge = page.locator("#supportchat-unread");
    await badge.filter({ hasText: "2" }).waitFor();
    assert.equal(
      await button.getAttribute("aria-label"),
      await tx("widget.embed.open_unread", { count: 2 }),
    );
    assert.ok((await tones(inner)).length > heard, "the chime played in the frame");
    assert.ok(!anna.ws.frames.slice(from).some(readNow), "nothing read while the panel is closed");
    await assertAccessible(page, `${lang} shop, two unread`);
    await screenshot(page, `widget-${lang}-embed-1-unread`);

    // Enter on the button opens the panel: the count goes, the composer has focus, read.
    await page.keyboard.press("Enter");
    await page.locator("#supportchat-frame").waitFor();
    await badge.waitFor({ state: "hidden" });
    assert.equal(await button.getAttribute("aria-label"), await tx("widget.embed.close"));
    await inner.waitForFunction(() => document.activeElement?.id === "text");
    const read = await anna.ws.next(readNow, { from });
    assert.equal(read.payload.last_read_seq, last.payload.seq);
    await assertAccessible(inner as never, `${lang} embedded widget open`);
    await screenshot(page, `widget-${lang}-embed-2-open`);
    assert.deepEqual(errors, []);
  } finally {
    await anna.close();
    await browser?.close();
    await shop.shutdown();
    await server.shutdown();
  }
}
