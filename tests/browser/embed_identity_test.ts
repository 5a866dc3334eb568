/**
 * A site that knows its user vouches for them through the embedded widget
 * (`window.supportChatSettings = { user_id, user_hash }`): the chat is that user's (`u:<id>`), on
 * every device, and what the site says about them is kept as verified.
 */
import assert from "node:assert/strict";
import type { Browser } from "playwright-core";
import { hmacKey } from "../../src/auth/jwt.ts";
import { startTestServer, WsClient } from "../integration/_harness.ts";
import { launchBrowser, newPage, screenshot } from "./_browser.ts";
import { startShop } from "./_widget.ts";

const SITE_SECRET = "site-identity-secret-0123456789abcdef";

async function userHash(userId: string): Promise<string> {
  const sig = await crypto.subtle.sign(
    "HMAC",
    await hmacKey(SITE_SECRET),
    new TextEncoder().encode(userId),
  );
  return [...new Uint8Array(sig)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test({
  name: "browser: a vouched-for user's chats follow them across devices through the embed",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const server = await startTestServer({ IDENTITY_SECRET: SITE_SECRET });
    const settings = {
      user_id: "shop-42",
      user_hash: await userHash("shop-42"),
      name: "Anna Petrova",
      attributes: { plan: "pro" },
    };
    const shop = startShop(server.url, settings);
    // An operator online: with nobody there the widget offers the offline message form instead.
    const op = await WsClient.connect(server.wsUrl(await server.staffToken("op-1")));
    let browser: Browser | null = null;
    try {
      browser = await launchBrowser();
      const chats: string[] = [];
      // Two devices: two browser contexts, no storage in common.
      for (const device of ["laptop", "phone"]) {
        const { page, errors } = await newPage(browser, { width: 1000, height: 760 });
        await page.goto(`http://localhost:${shop.addr.port}/`);
        await page.click("#supportchat-button");
        const widget = page.frameLocator("#supportchat-frame");
        await widget.locator("#start-btn").click();
        await widget.locator("#queue-banner", { hasText: "in the queue" }).waitFor();
        await screenshot(page, `embed-identity-${device}`);
        const snap = await server.svc.queueSnapshot();
        const mine = snap.waiting.filter((w) => w.clientId === "u:shop-42");
        assert.equal(mine.length, chats.length + 1, `${device}: a chat of u:shop-42`);
        chats.push(mine.at(-1)!.chatId);
        assert.deepEqual(errors, [], `${device}: no page errors`);
      }
      // Staff see the same person, verified, with what the site said.
      const admin = await server.staffToken("adm", "admin");
      const res = await fetch(`${server.url}/api/v1/chat/chats/${chats[1]}/client`, {
        headers: { authorization: `Bearer ${admin}` },
      });
      const profile = await res.json();
      assert.equal(profile.client_id, "u:shop-42");
      assert.equal(profile.verified, true);
      assert.equal(profile.attributes.plan, "pro");
      assert.deepEqual(
        profile.chats.map((c: { chat_id: string }) => c.chat_id).sort(),
        [...chats].sort(),
      );
    } finally {
      await browser?.close();
      await op.close();
      await shop.shutdown();
      await server.shutdown();
    }
  },
});
