/**
 * The console's Suggest panel in headless Chromium against a real server: the operator asks for
 * suggestions to the client's question, clicks the canned answer into the reply box and sends it;
 * the search box finds other answers.
 */
import assert from "node:assert/strict";
import type { Browser } from "playwright-core";
import { launchBrowser, newPage, screenshot, signInOperator } from "../browser/_browser.ts";
import { startTestServer, WsClient } from "../integration/_harness.ts";
import { CANNED, KNOWLEDGE } from "./_hints_data.ts";

Deno.test({
  name: "console: Suggest lists hints for the client's question; a click fills the reply box",
  // playwright-core keeps its pipe to the browser open between steps.
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "hints-console-" });
    await Deno.writeTextFile(`${dir}/knowledge.json`, JSON.stringify(KNOWLEDGE));
    const server = await startTestServer({ BOT_KNOWLEDGE_FILE: `${dir}/knowledge.json` });
    let browser: Browser | null = null;
    try {
      const admin = await server.staffToken("admin-1", "admin");
      for (const c of CANNED) {
        const res = await fetch(`${server.url}/api/v1/chat/admin/canned-responses`, {
          method: "POST",
          headers: { authorization: `Bearer ${admin}` },
          body: JSON.stringify(c),
        });
        assert.equal(res.status, 201);
      }
      const chat = await server.createChat("alice");
      const client = await WsClient.connect(server.wsUrl(chat.client_token));
      await client.request("message", { text: "how do I reset my password" });

      browser = await launchBrowser();
      const { page, errors } = await newPage(browser);
      await signInOperator(page, server, await server.staffToken("op-1"));
      await page.locator(`#queue li[data-chat-id="${chat.chat_id}"] button.accept`).click();
      await page.locator("#chat-messages li.msg.theirs", { hasText: "reset my password" })
        .waitFor();

      await page.click("#suggest-btn");
      const first = page.locator("#hint-list button.hint").first();
      await first.waitFor();
      assert.equal(await first.getAttribute("data-source"), "canned");
      assert.equal(await first.locator(".hint-text").textContent(), CANNED[0].text);
      await screenshot(page, "console-hints");
      await first.click();
      await page.locator("#hints").waitFor({ state: "hidden" });
      assert.equal(await page.inputValue("#chat-text"), CANNED[0].text);
      await page.press("#chat-text", "Enter");
      const sent = await client.next((f) => f.type === "message" && f.payload.sender_id === "op-1");
      assert.equal(sent.payload.message, CANNED[0].text);

      await page.click("#suggest-btn");
      await page.fill("#hint-q", "refnd");
      await page.press("#hint-q", "Enter");
      await page.locator("#hint-list button.hint", { hasText: "within 30 days" }).first().waitFor();
      assert.deepEqual(errors, []);
      await client.close();
    } finally {
      await browser?.close();
      await server.shutdown();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
