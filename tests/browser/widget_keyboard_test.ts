/**
 * The widget by keyboard alone (headless Chromium, staff on the WebSocket), in English and
 * Russian: open and close the menu, start a chat, send, attach a file, scroll the conversation, switch to the lawyer tab
 * and write there, end the chat, rate it (English) or skip the rating (Russian) and start a new
 * chat — Tab, Shift+Tab, arrows and Enter only, with a visible focus ring on everything focused
 * and axe in each state.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import type { Browser, Page } from "playwright-core";
import { startTestServer } from "../integration/_harness.ts";
import { assertAccessible } from "./_a11y.ts";
import { launchBrowser, newPage, screenshot } from "./_browser.ts";
import { focusState, type Lang, Staff, storedChat, tabTo, text } from "./_widget.ts";

// Page globals, used inside `page.evaluate` callbacks.
// deno-lint-ignore no-explicit-any
declare const document: any;

const PEOPLE = {
  en: { anna: "Anna Smirnova", lawyer: "Pavel Lebedev", me: "Maria Ivanova" },
  ru: { anna: "Анна Смирнова", lawyer: "Павел Лебедев", me: "Мария Иванова" },
};

for (const lang of ["en", "ru"] as const) {
  Deno.test({
    name: `browser: widget (${lang}) by keyboard only: start, send, attach, scroll the list, ` +
      `lawyer tab, end, ${lang === "en" ? "rate" : "skip the rating"}, new chat; focus visible`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: () => keyboardFlow(lang),
  });
}

/** Whether `selector` has focus. */
const hasFocus = (page: Page, selector: string) =>
  page.locator(selector).evaluate((el) => el === document.activeElement);

/** Fails unless `selector` has focus, with a visible ring. */
async function assertFocused(page: Page, selector: string) {
  const now = await focusState(page);
  assert.ok(await hasFocus(page, selector), `${selector} should have focus, not ${now.id}`);
  assert.ok(now.ring, `focus on ${now.id} is not visible`);
}

async function keyboardFlow(lang: Lang) {
  const who = PEOPLE[lang];
  const tx = (key: string, params?: Record<string, string | number>) => text(lang, key, params);
  const dir = await Deno.makeTempDir({ prefix: "widget-keys-" });
  const server = await startTestServer({ ATTACHMENTS_DIR: dir });
  const anna = await Staff.connect(server, "op-1", "operator", who.anna);
  let lawyer: Staff | null = null;
  let browser: Browser | null = null;
  try {
    browser = await launchBrowser();
    const { page, errors } = await newPage(browser, { width: 1100, height: 700 });
    page.setDefaultTimeout(10_000);
    // File choosers are intercepted from here on: subscribing only when the key is pressed races
    // the press, and an unintercepted picker never reports.
    page.on("filechooser", () => {});
    await page.goto(`${server.url}/?lang=${lang}`);
    await page.locator("#availability").waitFor();

    // The menu: Enter opens it on the language, Escape closes it back onto its button.
    await tabTo(page, "#menu-btn");
    await page.keyboard.press("Enter");
    await assertFocused(page, "#lang-select");
    await page.keyboard.press("Escape");
    await page.locator("#menu").waitFor({ state: "hidden" });
    await assertFocused(page, "#menu-btn");

    // Start: Tab to the name, type it, Enter. The composer has focus once the chat is open.
    await tabTo(page, "#name");
    await page.keyboard.type(who.me);
    await assertAccessible(page, `${lang} keyboard start`);
    await screenshot(page, `widget-${lang}-keys-1-start`);
    await page.keyboard.press("Enter");
    await page.locator("#queue-banner").waitFor();
    await assertFocused(page, "#text");
    const support = await storedChat(page);
    await anna.ok("accept_chat", { chat_id: support.chat_id });
    for (let i = 1; i <= 14; i++) await anna.say(support.chat_id, `Step ${i} of the answer.`);
    await page.locator("#messages li.msg", { hasText: "Step 14 of" }).waitFor();

    // Send: type and Enter; focus stays in the composer.
    await page.keyboard.type("Thanks, one more question.");
    await page.keyboard.press("Enter");
    await anna.heard(support.chat_id, "Thanks, one more question.");
    await assertFocused(page, "#text");

    // Attach: Shift+Tab to the paperclip, Enter opens the file picker, the file reaches Anna.
    await tabTo(page, "#attach-btn", true);
    const [chooser] = await Promise.all([
      page.waitForEvent("filechooser"),
      page.keyboard.press("Enter"),
    ]);
    await chooser.setFiles({
      name: "invoice.txt",
      mimeType: "text/plain",
      buffer: Buffer.from("invoice 7\n"),
    });
    await anna.ws.next((f) =>
      f.type === "message" && f.payload.chat_id === support.chat_id &&
      (f.payload.attachments as Array<{ name: string }> | undefined)?.[0]?.name === "invoice.txt"
    );
    await page.locator("#messages li.msg.mine a.att", { hasText: "invoice.txt" }).waitFor();

    // The conversation scrolls from the keyboard: Home goes to its start, End back to its end.
    await tabTo(page, "#messages", true);
    await assertFocused(page, "#messages");
    const scrollTop = () => page.locator("#messages").evaluate((el) => el.scrollTop as number);
    const bottom = await scrollTop();
    assert.ok(bottom > 0, "the list is long enough to scroll");
    await page.keyboard.press("Home");
    await page.waitForFunction(() => document.querySelector("#messages").scrollTop === 0);
    await assertAccessible(page, `${lang} keyboard list focused`);
    await screenshot(page, `widget-${lang}-keys-2-list-focused`);
    await page.keyboard.press("PageDown");
    await page.waitForFunction(() => document.querySelector("#messages").scrollTop > 0);
    await page.keyboard.press("End");
    await page.waitForFunction((b) => document.querySelector("#messages").scrollTop >= b, bottom);

    // The lawyer tab: Shift+Tab to the tabs, an arrow switches, Tab reaches the composer.
    lawyer = await Staff.connect(server, "law-1", "lawyer", who.lawyer);
    const lawyerChat = await anna.assignLawyer(support.chat_id, "law-1", "Contract");
    await lawyer.say(lawyerChat, "Your lawyer here.");
    await page.locator("#tab-lawyer .badge", { hasText: "1" }).waitFor();
    await tabTo(page, "#tab-support", true);
    await page.keyboard.press("ArrowRight");
    await assertFocused(page, "#tab-lawyer");
    assert.equal(await page.locator("#tab-lawyer").getAttribute("aria-selected"), "true");
    await page.locator("#lawyer-messages li.msg.theirs", { hasText: "Your lawyer here." })
      .waitFor();
    await assertAccessible(page, `${lang} keyboard lawyer tab`);
    await screenshot(page, `widget-${lang}-keys-3-lawyer-tab`);
    await tabTo(page, "#text");
    await page.keyboard.type("Hello, lawyer.");
    await page.keyboard.press("Enter");
    await lawyer.heard(lawyerChat, "Hello, lawyer.");

    // Back to support (the tab list is one stop: the selected tab), then end the chat: Enter
    // asks for confirmation, Enter again ends it; the rating takes focus.
    await tabTo(page, "#tab-lawyer", true);
    await page.keyboard.press("ArrowLeft");
    await assertFocused(page, "#tab-support");
    await tabTo(page, "#end-btn", true);
    await page.keyboard.press("Enter");
    await page.locator("#end-btn", { hasText: await tx("widget.end_confirm") }).waitFor();
    await page.keyboard.press("Enter");
    await page.locator("#rate-view").waitFor();
    await page.locator("#status-line", { hasText: await tx("widget.status.ended") }).waitFor();

    if (lang === "en") {
      // Rate: Tab to the stars (one stop), arrows pick 4, a comment, Tab to "Send rating".
      await tabTo(page, '#stars .star[tabindex="0"]');
      for (let i = 0; i < 3; i++) await page.keyboard.press("ArrowRight"); // 1 → 4
      await assertFocused(page, '#stars .star[data-score="4"]');
      assert.equal(
        await page.locator('#stars .star[data-score="4"]').getAttribute("aria-label"),
        await tx("widget.rate.star", { count: 4 }),
      );
      assert.equal(
        await page.locator('#stars .star[aria-checked="true"]').getAttribute("data-score"),
        "4",
      );
      await assertAccessible(page, `${lang} keyboard rating`);
      await screenshot(page, `widget-${lang}-keys-4-rating`);
      await page.keyboard.press("Tab");
      await page.keyboard.type("Quick and clear.");
      await tabTo(page, "#rate-btn");
      await page.keyboard.press("Enter");
      const rated = await anna.ws.next((f) =>
        f.type === "chat_rated" && f.payload.chat_id === support.chat_id
      );
      assert.equal(rated.payload.score, 4);
    } else {
      // Skip: Tab to "Skip", Enter.
      await assertAccessible(page, `${lang} keyboard rating`);
      await screenshot(page, `widget-${lang}-keys-4-rating`);
      await tabTo(page, "#skip-btn");
      await page.keyboard.press("Enter");
    }

    // The done view has focus on "Start a new chat": Enter opens one, the composer focused.
    await page.locator("#done-view").waitFor();
    await assertFocused(page, "#new-chat-btn");
    await assertAccessible(page, `${lang} keyboard done`);
    await screenshot(page, `widget-${lang}-keys-5-done`);
    await page.keyboard.press("Enter");
    await page.locator("#queue-banner").waitFor();
    assert.notEqual((await storedChat(page)).chat_id, support.chat_id);
    await assertFocused(page, "#text");
    assert.deepEqual(errors, []);
  } finally {
    await anna.close();
    await lawyer?.close();
    await browser?.close();
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
}
