/**
 * The customer's side of a personal lawyer (headless Chromium, staff on the WebSocket), in
 * English and Russian: after an operator assigns a lawyer, the widget opens the lawyer chat in a
 * tab of its own with an unread count; the customer reads and answers there; the lawyer chat
 * goes on after the support chat is closed, across a reload, and beside a new support chat.
 */
import assert from "node:assert/strict";
import type { Browser } from "playwright-core";
import { startTestServer } from "../integration/_harness.ts";
import { assertAccessible } from "./_a11y.ts";
import { launchBrowser, newPage, screenshot } from "./_browser.ts";
import { type Lang, Staff, storedChat, text } from "./_widget.ts";

const PEOPLE = {
  en: { anna: "Anna Smirnova", lawyer: "Pavel Lebedev", initials: "PL", reason: "Refund dispute" },
  ru: { anna: "Анна Смирнова", lawyer: "Павел Лебедев", initials: "ПЛ", reason: "Спор о возврате" },
};

for (const lang of ["en", "ru"] as const) {
  Deno.test({
    name: `browser: widget (${lang}): the lawyer chat in its own tab, after the support chat ` +
      "closes, across a reload and beside a new support chat",
    sanitizeOps: false,
    sanitizeResources: false,
    fn: () => lawyerFlow(lang),
  });
}

async function lawyerFlow(lang: Lang) {
  const who = PEOPLE[lang];
  const tx = (key: string, params?: Record<string, string | number>) => text(lang, key, params);
  const server = await startTestServer();
  let browser: Browser | null = null;
  const anna = await Staff.connect(server, "op-1", "operator", who.anna);
  let lawyer: Staff | null = null;
  try {
    browser = await launchBrowser();
    const { page, errors } = await newPage(browser, { width: 1100, height: 760 });
    page.setDefaultTimeout(10_000);
    await page.goto(`${server.url}/?lang=${lang}`);
    await page.click("#start-btn");
    await page.locator("#queue-banner").waitFor();
    const support = await storedChat(page);
    await anna.ok("accept_chat", { chat_id: support.chat_id });
    await page.locator("#title", { hasText: who.anna }).waitFor();

    // The operator assigns a lawyer: a note with the reason, and a tab for the lawyer chat.
    lawyer = await Staff.connect(server, "law-1", "lawyer", who.lawyer);
    const lawyerChat = await anna.assignLawyer(support.chat_id, "law-1", who.reason);
    const note = page.locator('#messages li.note[data-type="lawyer_assigned"]');
    await note.filter({ hasText: await tx("widget.note.reason", { reason: who.reason }) })
      .waitFor();
    await page.locator("#tabs").waitFor();
    assert.equal((await storedChat(page, "supportchat.lawyer"))?.chat_id, lawyerChat);

    // The lawyer writes: the lawyer tab counts it while the support tab is in front.
    await lawyer.say(lawyerChat, "Hello, I am your lawyer.");
    await page.locator("#tab-lawyer .badge", { hasText: "1" }).waitFor();
    assert.equal(
      await page.locator("#tab-lawyer .visually-hidden").textContent(),
      await tx("widget.tabs.unread", { count: 1 }),
    );
    assert.equal(await page.title(), `(1) ${await tx("widget.page_title")}`);
    await assertAccessible(page, `${lang} support tab with a lawyer`);
    await screenshot(page, `widget-${lang}-lawyer-1-tabs`);

    // The note's button opens the lawyer tab: the lawyer's messages, name and initials.
    await note.locator("button.open-lawyer").click();
    await page.locator("#lawyer-messages li.msg.theirs", { hasText: "your lawyer" }).waitFor();
    assert.equal(await page.locator("#tab-lawyer").getAttribute("aria-selected"), "true");
    await page.locator("#title", { hasText: who.lawyer }).waitFor();
    assert.equal(await page.locator("#agent-avatar .avatar").textContent(), who.initials);
    await page.locator("#tab-lawyer .badge").waitFor({ state: "detached" });
    assert.equal(await page.title(), await tx("widget.page_title"));
    await page.locator("#lawyer-messages li.note", {
      hasText: await tx("widget.note.lawyer_chat_reason", { reason: who.reason }),
    }).waitFor();
    await page.fill("#text", "Thank you, here are the details.");
    await page.press("#text", "Enter");
    await lawyer.heard(lawyerChat, "Thank you, here are the details.");
    await assertAccessible(page, `${lang} lawyer tab`);
    await screenshot(page, `widget-${lang}-lawyer-2-lawyer-tab`);

    // Support closes its chat: the support tab asks for a rating; the lawyer chat goes on.
    await anna.ok("close_chat", { chat_id: support.chat_id, reason: "Handed to the lawyer" });
    await page.click("#tab-support");
    await page.locator("#rate-view").waitFor();
    await page.click("#tab-lawyer");
    await page.locator("#composer").waitFor();
    await page.fill("#text", "Still here after support closed.");
    await page.press("#text", "Enter");
    await lawyer.heard(lawyerChat, "Still here after support closed.");

    // A reload keeps both: the lawyer tab with its messages, the support chat closed.
    await page.reload();
    await page.locator("#tabs").waitFor();
    await page.click("#tab-lawyer");
    await page.locator("#lawyer-messages li.msg", { hasText: "Still here" }).waitFor();
    await page.locator("#lawyer-messages li.msg.theirs", { hasText: "your lawyer" }).waitFor();
    await lawyer.say(lawyerChat, "I have filed the claim.");
    await page.locator("#lawyer-messages li.msg.theirs", { hasText: "filed the claim" }).waitFor();
    await page.click("#tab-support");
    await page.locator("#rate-view").waitFor();

    // A new support chat beside the lawyer chat: both tabs stay.
    await page.click("#skip-btn");
    await page.click("#new-chat-btn");
    await page.locator("#queue-banner").waitFor();
    assert.notEqual((await storedChat(page)).chat_id, support.chat_id);
    await lawyer.say(lawyerChat, "One more thing.");
    await page.locator("#tab-lawyer .badge", { hasText: "1" }).waitFor();
    await screenshot(page, `widget-${lang}-lawyer-3-new-support-chat`);
    assert.deepEqual(errors, [], "no errors in the page");
  } finally {
    await anna.close();
    await lawyer?.close();
    await browser?.close();
    await server.shutdown();
  }
}
