/** The console shows a Telegram user as such: their Telegram name and a "Telegram" badge. */
import assert from "node:assert/strict";
import type { Browser } from "playwright-core";
import { launchBrowser, newPage, screenshot, signInOperator } from "../browser/_browser.ts";
import { startTestServer } from "../integration/_harness.ts";
import { FakeTelegram, textUpdate } from "./_fake_telegram.ts";

Deno.test({
  name: "browser: a Telegram chat shows the user's Telegram name and a badge in the console",
  // playwright-core keeps its pipe to the browser open between steps.
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using fake = FakeTelegram.start();
    await using server = await startTestServer({
      TELEGRAM_BOT_TOKEN: "test",
      TELEGRAM_API_URL: fake.url,
      TELEGRAM_POLL_TIMEOUT_S: "1",
    });
    let browser: Browser | null = null;
    try {
      browser = await launchBrowser();
      const op = await newPage(browser);
      await signInOperator(op.page, server, await server.staffToken("op-1"));

      fake.push(textUpdate(1, "Hi, I write from Telegram", { id: 42, first_name: "Ada" }));
      const row = op.page.locator('#queue li[data-chat-id="tg-42-1"]');
      await row.locator("button.accept").click();

      const item = op.page.locator('#my-chats li[data-chat-id="tg-42-1"]');
      await item.locator("strong", { hasText: "Ada" }).waitFor();
      await item.locator(".badge.channel-telegram", { hasText: "Telegram" }).waitFor();
      await item.click();
      await op.page.locator("#chat-title .badge.channel-telegram").waitFor();
      assert.match(await op.page.locator("#chat-title").innerText(), /^Ada\s+Telegram$/);
      // The customer context names them too (the site told nothing, Telegram did).
      await op.page.locator(".ctx-name strong", { hasText: "Ada" }).waitFor();
      await op.page.locator("#chat-messages li", { hasText: "on Telegram (Ada)" }).waitFor();
      await op.page.locator("#chat-messages li.msg.theirs", { hasText: "from Telegram" }).waitFor();
      await screenshot(op.page, "console-telegram-chat");

      await op.page.fill("#chat-text", "Hello Ada!");
      await op.page.press("#chat-text", "Enter");
      const sent = await fake.waitFor((c) => c.body.text === "Hello Ada!");
      assert.equal(sent.body.chat_id, "42");
      assert.deepEqual(op.errors, []);
    } finally {
      await browser?.close();
    }
  },
});
