/**
 * The widget's main flow in English and in Russian (headless Chromium, staff on the WebSocket):
 * the name the customer gives reaches staff, the agent's name and initials in the header and on
 * messages, a transfer, the transcript, closing, skipping the rating with no stale error left,
 * and a new chat in one click; axe-core finds no serious or critical problem in any state.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import type { Browser } from "playwright-core";
import { startTestServer } from "../integration/_harness.ts";
import { assertAccessible } from "./_a11y.ts";
import { launchBrowser, newPage, screenshot } from "./_browser.ts";
import { type Lang, Staff, storedChat, text } from "./_widget.ts";

// deno-lint-ignore no-explicit-any
declare const document: any;

const PEOPLE = {
  en: { client: "Ivan Petrov", anna: "Anna Smirnova", boris: "Boris Ivanov", initials: "AS" },
  ru: { client: "Иван Петров", anna: "Анна Смирнова", boris: "Борис Иванов", initials: "АС" },
};

for (const lang of ["en", "ru"] as const) {
  Deno.test({
    name: `browser: widget (${lang}): name to staff, agent's name and initials, transfer, ` +
      "transcript, close, skip the rating, a new chat in one click",
    sanitizeOps: false,
    sanitizeResources: false,
    fn: () => mainFlow(lang),
  });
}

async function mainFlow(lang: Lang) {
  const who = PEOPLE[lang];
  const tx = (key: string, params?: Record<string, string | number>) => text(lang, key, params);
  const server = await startTestServer();
  let browser: Browser | null = null;
  const anna = await Staff.connect(server, "op-1", "operator", who.anna);
  const boris = await Staff.connect(server, "op-2", "operator", who.boris);
  try {
    browser = await launchBrowser();
    const { page, errors } = await newPage(browser, { width: 1100, height: 760 });
    page.setDefaultTimeout(10_000);
    await page.goto(`${server.url}/?lang=${lang}`);
    await page.locator("#start-view h2", { hasText: await tx("widget.start.title") }).waitFor();
    await page.locator("#availability", { hasText: await tx("widget.avail.online") }).waitFor();
    assert.equal(await page.locator("html").getAttribute("lang"), lang);
    assert.equal(await page.title(), await tx("widget.page_title"));
    await assertAccessible(page, `${lang} start`);
    await screenshot(page, `widget-${lang}-1-start`);

    // The customer gives a name and starts: the queue, in their language.
    await page.fill("#name", who.client);
    await page.click("#start-btn");
    await page.locator("#queue-banner", { hasText: await tx("widget.queue.next") }).waitFor();
    const first = await storedChat(page);
    assert.equal(await page.evaluate(() => document.activeElement?.id), "text", "focus: composer");
    await assertAccessible(page, `${lang} queue`);
    await screenshot(page, `widget-${lang}-2-queue`);

    // The name reaches staff: the chat's client profile and the chat's first event carry it.
    const admin = await server.staffToken("adm", "admin");
    const profile = await (await fetch(`${server.url}/api/v1/chat/chats/${first.chat_id}/client`, {
      headers: { authorization: `Bearer ${admin}` },
    })).json();
    assert.equal(profile.name, who.client, "the profile has the name the customer typed");
    const history = await (await fetch(
      `${server.url}/api/v1/chat/chats/${first.chat_id}/history?token=${first.client_token}`,
    )).json();
    assert.equal(history.events[0].payload.client_name, who.client, "chat_created.client_name");

    // An agent takes it: their name and initials in the header and on their messages.
    await anna.ok("accept_chat", { chat_id: first.chat_id });
    await page.locator("#title", { hasText: who.anna }).waitFor();
    assert.equal(await page.locator("#agent-avatar .avatar").textContent(), who.initials);
    await page.locator("#messages li.note", {
      hasText: await tx("widget.note.agent_joined_named", { name: who.anna }),
    }).waitFor();
    await page.fill("#text", "Hello, where is my order?");
    await page.press("#text", "Enter");
    const asked = await anna.heard(first.chat_id, "Hello, where is my order?");
    await anna.ok("read", { chat_id: first.chat_id, seq: asked.payload.seq });
    await anna.say(first.chat_id, "Let me check that for you.");
    const reply = page.locator("#messages li.msg.theirs", { hasText: "Let me check" });
    await reply.locator(".meta", { hasText: who.anna }).waitFor();
    assert.equal(await reply.locator(".avatar-sm").textContent(), who.initials);
    await page.locator("#messages .meta.seen", { hasText: await tx("widget.msg.seen") }).waitFor();

    // A stale error: an empty file is refused (it must not outlive the view).
    await page.setInputFiles("#attach-input", {
      name: "empty.txt",
      mimeType: "text/plain",
      buffer: Buffer.alloc(0),
    });
    await page.locator("#attach-error", { hasText: await tx("common.attach.empty") }).waitFor();

    // A transfer names the new agent, who takes over the header.
    await anna.ok("transfer_chat", {
      chat_id: first.chat_id,
      target_operator_id: "op-2",
      reason: "Billing",
    });
    await page.locator("#messages li.note", {
      hasText: await tx("widget.note.transferred_named", { name: who.boris }),
    }).waitFor();
    await page.locator("#title", { hasText: who.boris }).waitFor();
    await boris.say(first.chat_id, "Hi, Boris here.");
    await page.locator("#messages li.msg.theirs .meta", { hasText: who.boris }).waitFor();
    await assertAccessible(page, `${lang} chat`);
    await screenshot(page, `widget-${lang}-3-chat`);

    // The transcript downloads from the menu, in the page's language.
    await page.click("#menu-btn");
    await page.locator("#menu").waitFor();
    await assertAccessible(page, `${lang} menu`);
    await screenshot(page, `widget-${lang}-4-menu`);
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.click("#transcript-btn"),
    ]);
    assert.match(download.suggestedFilename(), /\.txt$/);
    const transcript = await Deno.readTextFile((await download.path())!);
    assert.ok(transcript.includes("Hello, where is my order?"), transcript);
    assert.ok(transcript.startsWith(lang === "ru" ? "Чат" : "Chat"), transcript.slice(0, 40));
    await page.locator("#menu").waitFor({ state: "hidden" });

    // Closed by the agent: the rating, with focus on it; the old error is gone.
    await page.focus("#text");
    await boris.ok("close_chat", { chat_id: first.chat_id, reason: "Solved" });
    await page.locator("#rate-view h2", { hasText: await tx("widget.rate.title") }).waitFor();
    await page.locator("#composer").waitFor({ state: "hidden" });
    assert.equal(await page.evaluate(() => document.activeElement?.id), "rate-title");
    assert.equal(await page.locator(".error:visible").count(), 0, "no stale error after close");
    await assertAccessible(page, `${lang} rating`);
    await screenshot(page, `widget-${lang}-5-rating`);

    // The rating can be skipped; the next chat is one click away and keeps the name.
    await page.click("#skip-btn");
    await page.locator("#done-view", { hasText: await tx("widget.done.ended") }).waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.id), "new-chat-btn");
    await assertAccessible(page, `${lang} done`);
    await screenshot(page, `widget-${lang}-6-done`);
    await page.click("#new-chat-btn");
    await page.locator("#queue-banner", { hasText: await tx("widget.queue.next") }).waitFor();
    const second = await storedChat(page);
    assert.notEqual(second.chat_id, first.chat_id);
    const next = await (await fetch(`${server.url}/api/v1/chat/chats/${second.chat_id}/client`, {
      headers: { authorization: `Bearer ${admin}` },
    })).json();
    assert.equal(next.name, who.client);
    assert.equal(await page.locator("#messages li.msg").count(), 0, "a fresh conversation");
    assert.equal(await page.locator(".error:visible").count(), 0);
    assert.deepEqual(errors, [], "no errors in the page");
  } finally {
    await anna.close();
    await boris.close();
    await browser?.close();
    await server.shutdown();
  }
}
