/**
 * With WebSockets blocked in the client's browser, the widget falls back to SSE (+ POST send),
 * says so in its status line, and the whole chat still works, including a network drop.
 */
import assert from "node:assert/strict";
import type { Browser } from "playwright-core";
import { startTestServer } from "../integration/_harness.ts";
import {
  historyMessages,
  launchBrowser,
  newPage,
  screenshot,
  shownMessages,
  signInOperator,
  startClientChat,
} from "./_browser.ts";

Deno.test({
  name: "browser: WebSocket blocked → the widget chats over SSE",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const server = await startTestServer();
    let browser: Browser | null = null;
    try {
      browser = await launchBrowser();
      const op = await newPage(browser);
      const cl = await newPage(browser, { width: 1100, height: 760 });
      // A proxy that refuses WebSockets: every chat socket is closed at once.
      let blocked = 0;
      await cl.page.routeWebSocket(/\/ws\/chat/, (ws) => {
        blocked++;
        ws.close();
      });
      await signInOperator(op.page, server, await server.staffToken("op-1"));

      const chatId = await startClientChat(cl.page, server);
      await cl.page.locator("#status-line", { hasText: "using SSE" }).waitFor();
      assert.ok(blocked >= 2, `WebSocket tried first (${blocked} attempts)`);
      await cl.page.locator("#queue-banner", { hasText: "in the queue" }).waitFor();

      const row = op.page.locator(`#queue li[data-chat-id="${chatId}"]`);
      await row.locator("button.accept").click();
      await cl.page.locator('#messages li.note[data-type="chat_assigned"]').waitFor();

      await cl.page.fill("#text", "Hi over SSE");
      await cl.page.press("#text", "Enter");
      await op.page.locator("#chat-messages li.msg.theirs", { hasText: "Hi over SSE" }).waitFor();
      await op.page.locator("#chat-text").pressSequentially("Hello", { delay: 15 });
      await cl.page.locator("#typing").waitFor({ state: "visible" });
      await op.page.press("#chat-text", "Enter");
      await cl.page.locator("#messages li.msg.theirs", { hasText: "Hello" }).waitFor();
      await op.page.locator("#chat-messages .meta.seen", { hasText: "Seen by client" }).waitFor();
      await cl.page.locator("#messages .meta.seen", { hasText: "Seen" }).waitFor();
      await screenshot(cl.page, "widget-sse-1-chat");

      // A network drop on SSE: the stream resumes from the last seq it saw.
      await cl.context.setOffline(true);
      await cl.page.locator("#status-line", { hasText: "Offline" }).waitFor();
      for (const text of ["One", "Two"]) {
        await op.page.fill("#chat-text", text);
        await op.page.press("#chat-text", "Enter");
        await op.page.locator("#chat-messages li.msg.mine[data-seq]", { hasText: text }).waitFor();
      }
      await cl.context.setOffline(false);
      await cl.page.locator("#messages li.msg", { hasText: "Two" }).waitFor();
      await cl.page.locator("#status-line", { hasText: "using SSE" }).waitFor();
      const token = await cl.page.evaluate(() =>
        JSON.parse(localStorage.getItem("supportchat.session")!).client_token as string
      );
      assert.deepEqual(
        await shownMessages(cl.page, "#messages"),
        await historyMessages(server, chatId, token),
      );

      await op.page.click("#close-btn");
      await op.page.click("#dialog-ok");
      await cl.page.locator("#rate-view").waitFor({ state: "visible" });
      await cl.page.click('#stars button[data-score="4"]');
      await cl.page.click("#rate-btn");
      await cl.page.locator("#done-view").waitFor({ state: "visible" });
      await op.page.locator("#chat-messages li.note", { hasText: "Client rated 4/5" }).waitFor();
      await screenshot(cl.page, "widget-sse-2-rated");
      assert.deepEqual([...op.errors, ...cl.errors], [], "no errors in the pages");
    } finally {
      await browser?.close();
      await server.shutdown();
    }
  },
});
