/**
 * The bot and titles in the pages (headless Chromium, BOT_MODE=all, TITLE_MODE=extractive): the
 * widget shows the assistant's answers with quick-reply buttons that send their text, and the
 * hand-over; the console shows the bot's turns (intent, confidence) and the chat's title.
 */
import type { Browser } from "playwright-core";
import { loadKnowledge } from "../../src/integrations/bot/knowledge.ts";
import {
  launchBrowser,
  newPage,
  screenshot,
  signInOperator,
  startClientChat,
} from "../browser/_browser.ts";
import { SAMPLE_KNOWLEDGE, startBotServer } from "./_bot_util.ts";
import assert from "node:assert/strict";

const knowledge = await loadKnowledge(SAMPLE_KNOWLEDGE);
const hoursAnswer = knowledge.intents.find((i) => i.name === "opening_hours")!.answers[0];

Deno.test({
  name:
    "browser: the widget's quick replies reach the bot and a human; the console shows bot turns and the title",
  // playwright-core keeps its pipe to the browser open between steps.
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const server = await startBotServer({ BOT_MODE: "all", TITLE_MODE: "extractive" });
    let browser: Browser | null = null;
    try {
      browser = await launchBrowser();
      const cl = await newPage(browser, { width: 1100, height: 760 });
      const op = await newPage(browser);
      await signInOperator(op.page, server, await server.staffToken("op-1"));

      // Held by the bot: welcomed with quick replies, no queue banner.
      const chatId = await startClientChat(cl.page, server);
      const welcome = cl.page.locator('#messages li.msg.bot[data-intent="welcome"]');
      await welcome.waitFor();
      await welcome.locator("button.quick-reply", { hasText: "Opening hours" }).waitFor();
      assert.equal(await cl.page.locator("#queue-banner").isVisible(), false);
      await screenshot(cl.page, "bot-1-welcome");

      // A quick reply is sent as the client's message; the answer brings its own buttons.
      await welcome.locator("button.quick-reply", { hasText: "Opening hours" }).click();
      await cl.page.locator("#messages li.msg.mine", { hasText: "Opening hours" }).waitFor();
      const hours = cl.page.locator('#messages li.msg.bot[data-intent="opening_hours"]');
      await hours.locator(".bubble", { hasText: hoursAnswer }).waitFor();
      // Only the newest answer offers buttons.
      await welcome.locator("button.quick-reply").first().waitFor({ state: "detached" });
      await screenshot(cl.page, "bot-2-answer");

      await hours.locator("button.quick-reply", { hasText: "Talk to a human" }).click();
      await cl.page.locator('#messages li.note[data-type="chat_escalated"]').waitFor();
      await cl.page.locator("#queue-banner").waitFor({ state: "visible" });
      assert.equal(await cl.page.locator("button.quick-reply").count(), 0);
      await screenshot(cl.page, "bot-3-handed-over");

      // The operator takes it and sees the bot's turns and the chat's title.
      const row = op.page.locator(`#queue li[data-chat-id="${chatId}"]`);
      await row.locator("button.accept").click();
      const item = op.page.locator(`#my-chats li[data-chat-id="${chatId}"]`);
      await item.locator(".chat-item-title", { hasText: "Opening hours" }).waitFor();
      await item.click();
      await op.page.locator("#chat-messages li.msg.bot .meta", { hasText: "Bot · opening_hours" })
        .waitFor();
      await op.page.locator("#chat-sub", { hasText: "Opening hours · Chat" }).waitFor();
      await cl.page.locator('#messages li.note[data-type="chat_assigned"]').waitFor();
      await screenshot(op.page, "bot-4-console");
      assert.deepEqual([...cl.errors, ...op.errors], []);
    } finally {
      await browser?.close();
      await server.shutdown();
    }
  },
});
