/**
 * The widget embedded in another site through /embed.js; the console's transfer, lawyer and
 * status actions; the admin's operators and statistics panels.
 */
import assert from "node:assert/strict";
import type { Browser } from "playwright-core";
import { startTestServer, WsClient } from "../integration/_harness.ts";
import { launchBrowser, newPage, screenshot, signInOperator } from "./_browser.ts";

/** Another site on another origin (its own port, and `localhost` instead of 127.0.0.1). */
function startShop(chatServerUrl: string): Deno.HttpServer<Deno.NetAddr> {
  const html = `<!doctype html><html><head><title>Shop</title></head><body>
    <h1>Example shop</h1><p>Product pages, and a support button in the corner.</p>
    <script src="${chatServerUrl}/embed.js" async></script></body></html>`;
  return Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response(html, { headers: { "content-type": "text/html; charset=utf-8" } }),
  );
}

Deno.test({
  name: "browser: embedded widget, transfer and lawyer from the console, admin panels",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const server = await startTestServer();
    const shopServer = startShop(server.url);
    let browser: Browser | null = null;
    try {
      browser = await launchBrowser();
      const op = await newPage(browser);
      const admin = await newPage(browser, { width: 1440, height: 860 });
      const shop = await newPage(browser, { width: 1100, height: 760 });
      await signInOperator(op.page, server, await server.staffToken("op-1"));
      await signInOperator(admin.page, server, await server.staffToken("admin-1", "admin"));
      await admin.page.locator('#views a[data-view="admin"]').waitFor({ state: "visible" });
      // A lawyer who has signed in once is on the staff list the lawyer picker shows.
      const lawyer = await WsClient.connect(
        server.wsUrl(await server.staffToken("law-1", "lawyer", "Lena Lawyer")),
      );

      // Another site embeds the widget with one script tag.
      await shop.page.goto(`http://localhost:${shopServer.addr.port}/`);
      await shop.page.click("#supportchat-button");
      const widget = shop.page.frameLocator("#supportchat-frame");
      await widget.locator("#start-btn").click();
      await widget.locator("#queue-banner", { hasText: "in the queue" }).waitFor();
      await screenshot(shop.page, "embed-1-open");

      // The operator takes it, then hands it back to the queue with a reason.
      const row = op.page.locator("#queue li[data-chat-id]");
      await row.locator("button.accept").click();
      await widget.locator('#messages li.note[data-type="chat_assigned"]').waitFor();
      await op.page.click("#transfer-btn");
      await op.page.check("#dlg-to_queue");
      await op.page.fill("#dlg-reason", "Needs a supervisor");
      await op.page.click("#dialog-ok");
      await widget.locator("#messages li.note", { hasText: "moved back to the queue" }).waitFor();
      await op.page.locator("#chat-state", { hasText: "Returned to the queue" }).waitFor();
      await op.page.locator("#chat-composer").waitFor({ state: "hidden" });

      // The admin accepts it from the queue and assigns a lawyer.
      await admin.page.locator("#queue li[data-chat-id] button.accept").click();
      await admin.page.locator("#chat-messages li.note", { hasText: "You accepted the chat" })
        .waitFor();
      await admin.page.click("#lawyer-btn");
      await admin.page.fill("#dlg-lawyer", "Lena");
      await admin.page.press("#dlg-lawyer", "ArrowDown");
      await admin.page.press("#dlg-lawyer", "Enter");
      await admin.page.locator('#dlg-lawyer-list li[aria-selected="true"]', { hasText: "Lena" })
        .waitFor();
      await admin.page.click("#dialog-ok");
      await widget.locator("#messages li.note", { hasText: "A lawyer was assigned" }).waitFor();
      await admin.page.fill("#chat-text", "A lawyer will contact you as well.");
      await admin.page.press("#chat-text", "Enter");
      await widget.locator("#messages li.msg.theirs", { hasText: "lawyer will contact" })
        .waitFor();

      // The operator goes away: no accepting; the admin's roster shows it.
      await op.page.selectOption("#my-status", "away");
      await admin.page.click('#views a[data-view="admin"]');
      await admin.page.waitForFunction(() =>
        (globalThis as unknown as {
          document: { querySelector(s: string): { value?: string } | null };
        }).document.querySelector('#operators tr[data-operator-id="op-1"] .op-status')?.value ===
          "away"
      );
      await screenshot(admin.page, "console-admin");
      await admin.page.click('#views a[data-view="stats"]');
      await admin.page.locator("#stats dt", { hasText: "Active chats" }).waitFor();
      const active = await admin.page.locator(".stat", { hasText: "Active chats" })
        .locator("dd").textContent();
      assert.equal(active, "1");
      await screenshot(admin.page, "console-admin-stats");
      lawyer.ws.close();
      await screenshot(op.page, "console-transferred");
      await screenshot(shop.page, "embed-2-chat");

      // Closing the panel from inside the widget hides the iframe.
      await widget.locator("#minimize-btn").click();
      await shop.page.locator("#supportchat-frame").waitFor({ state: "hidden" });
      assert.deepEqual([...op.errors, ...admin.errors, ...shop.errors], [], "no page errors");
    } finally {
      await browser?.close();
      await shopServer.shutdown();
      await server.shutdown();
    }
  },
});
