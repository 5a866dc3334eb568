/** Auto routing in the console: an offered chat shows with a countdown and is accepted. */
import type { Browser } from "playwright-core";
import { startTestServer } from "../integration/_harness.ts";
import { launchBrowser, newPage, screenshot, signInOperator } from "./_browser.ts";
import assert from "node:assert/strict";

Deno.test({
  name: "browser: the console shows a chat offered by auto routing and accepts it",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const server = await startTestServer({ ROUTING_MODE: "auto", ACCEPT_TIMEOUT_S: "60" });
    let browser: Browser | null = null;
    try {
      browser = await launchBrowser();
      const op = await newPage(browser);
      await signInOperator(op.page, server, await server.staffToken("op-1"));
      const chat = await server.createChat("dora");

      const offer = op.page.locator(`#offers li[data-chat-id="${chat.chat_id}"]`);
      await offer.locator("text=/accept within \\d+ s/").waitFor();
      await screenshot(op.page, "console-offer");
      await offer.locator("button").click();
      await op.page.locator(`#my-chats li[data-chat-id="${chat.chat_id}"]`).waitFor();
      await op.page.locator("#chat-messages li.note", { hasText: "You accepted the chat" })
        .waitFor();
      await op.page.locator("#offers-panel").waitFor({ state: "hidden" });
      assert.deepEqual(op.errors, [], "no page errors");
    } finally {
      await browser?.close();
      await server.shutdown();
    }
  },
});
