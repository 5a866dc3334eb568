/**
 * The widget and the console in headless Chromium against a real server: a whole chat, typing
 * and read state both ways, a network drop on the client's side with messages sent meanwhile,
 * closing and rating.
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
  name: "browser: client and operator chat, survive a network drop, close and rate",
  // playwright-core keeps its pipe to the browser open between steps.
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const server = await startTestServer();
    let browser: Browser | null = null;
    try {
      browser = await launchBrowser();
      const op = await newPage(browser);
      const cl = await newPage(browser, { width: 1100, height: 760 });
      await signInOperator(op.page, server, await server.staffToken("op-1"));

      // The client starts a chat and sees its place in the queue.
      const chatId = await startClientChat(cl.page, server);
      await cl.page.locator("#queue-banner", { hasText: "You're next in the queue" }).waitFor();
      await cl.page.locator("#status-line", { hasText: "Connected" }).waitFor();
      await screenshot(cl.page, "widget-1-queued");

      // The operator sees it in the live queue and accepts it.
      const row = op.page.locator(`#queue li[data-chat-id="${chatId}"]`);
      await row.waitFor();
      await screenshot(op.page, "console-1-queue");
      await row.locator("button.accept").click();
      await op.page.locator(`#my-chats li[data-chat-id="${chatId}"]`).waitFor();
      await row.waitFor({ state: "detached" });
      await cl.page.locator('#messages li.note[data-type="chat_assigned"]').waitFor();
      await cl.page.locator("#queue-banner").waitFor({ state: "hidden" });

      // Client → operator, with the operator's typing indicator shown to the client.
      await cl.page.fill("#text", "Hello, my parcel is late");
      await cl.page.press("#text", "Enter");
      await op.page.locator("#chat-messages li.msg.theirs", { hasText: "parcel is late" })
        .waitFor();
      await op.page.locator("#chat-text").pressSequentially("Let me check", { delay: 15 });
      await cl.page.locator("#typing").waitFor({ state: "visible" });
      await screenshot(cl.page, "widget-2-typing");
      await op.page.press("#chat-text", "Enter");
      await cl.page.locator("#messages li.msg.theirs", { hasText: "Let me check" }).waitFor();
      await cl.page.locator("#typing").waitFor({ state: "hidden" });
      // The client has the reply on screen: the operator sees it read.
      await op.page.locator("#chat-messages .meta.seen", { hasText: "Seen by client" }).waitFor();

      // Operator ← client typing, then the operator reads and the client sees "Seen".
      await cl.page.locator("#text").pressSequentially("Order 4711", { delay: 15 });
      await op.page.locator("#chat-typing").waitFor({ state: "visible" });
      await screenshot(op.page, "console-2-typing");
      await cl.page.press("#text", "Enter");
      await op.page.locator("#chat-messages li.msg.theirs", { hasText: "Order 4711" }).waitFor();
      await cl.page.locator("#messages .meta.seen", { hasText: "Seen" }).waitFor();
      await screenshot(cl.page, "widget-3-seen");

      // The client's network drops; the operator sends three messages meanwhile.
      await cl.context.setOffline(true);
      await cl.page.locator("#status-line", { hasText: "Offline" }).waitFor();
      const during = ["Found it: it left the depot", "It arrives tomorrow", "Anything else?"];
      for (const text of during) {
        await op.page.fill("#chat-text", text);
        await op.page.press("#chat-text", "Enter");
      }
      for (const text of during) {
        await op.page.locator("#chat-messages li.msg.mine[data-seq]", { hasText: text }).waitFor();
      }
      assert.equal(await cl.page.locator("#messages li.msg", { hasText: "depot" }).count(), 0);
      // The client writes meanwhile too: the message waits in the outbox.
      await cl.page.fill("#text", "Written while offline");
      await cl.page.press("#text", "Enter");
      await cl.page.locator("#messages li.msg.pending", { hasText: "while offline" }).waitFor();
      await screenshot(cl.page, "widget-4-offline");

      // Back online: the widget resumes and shows the three, in order, once each, then its own
      // message is sent (once).
      await cl.context.setOffline(false);
      await cl.page.locator("#messages li.msg[data-seq]", { hasText: "while offline" }).waitFor();
      await cl.page.locator("#status-line", { hasText: "Connected" }).waitFor();
      const clientToken = await cl.page.evaluate(() =>
        JSON.parse(localStorage.getItem("supportchat.session")!).client_token as string
      );
      const checkShown = async () => {
        const shown = await shownMessages(cl.page, "#messages");
        const seqs = shown.map(([seq]) => seq);
        assert.deepEqual(seqs, [...new Set(seqs)].sort((a, b) => a - b), "in order, no dup");
        const texts = shown.map(([, text]) => text);
        assert.deepEqual(texts.slice(-4), [...during, "Written while offline"]);
        assert.deepEqual(shown, await historyMessages(server, chatId, clientToken));
        assert.equal(await cl.page.locator("#messages li.msg.pending").count(), 0);
      };
      await checkShown();
      await screenshot(cl.page, "widget-5-resumed");

      // A reload of either page resumes the chat from its stored token.
      await cl.page.reload();
      await cl.page.locator("#messages li.msg", { hasText: "while offline" }).waitFor();
      await cl.page.locator("#messages .meta.seen", { hasText: "Seen" }).waitFor();
      await checkShown();
      await op.page.reload();
      await op.page.locator(`#my-chats li[data-chat-id="${chatId}"]`).click();
      await op.page.locator("#chat-messages li.msg", { hasText: "while offline" }).waitFor();
      assert.deepEqual(
        await shownMessages(op.page, "#chat-messages"),
        await historyMessages(server, chatId, clientToken),
      );
      await screenshot(op.page, "console-3-chat");

      // The operator closes the chat; the client rates it.
      await op.page.click("#close-btn");
      await op.page.fill("#dlg-reason", "Solved");
      await screenshot(op.page, "console-4-close-dialog");
      await op.page.click("#dialog-ok");
      await cl.page.locator("#rate-view").waitFor({ state: "visible" });
      await cl.page.locator("#composer").waitFor({ state: "hidden" });
      await cl.page.click('#stars button[data-score="5"]');
      await cl.page.fill("#comment", "Quick and kind");
      await screenshot(cl.page, "widget-6-rate");
      await cl.page.click("#rate-btn");
      await cl.page.locator("#done-view").waitFor({ state: "visible" });
      await op.page.locator("#chat-messages li.note", { hasText: "Client rated 5/5" }).waitFor();
      await screenshot(cl.page, "widget-7-rated");
      await screenshot(op.page, "console-5-closed");

      assert.deepEqual([...op.errors, ...cl.errors], [], "no errors in the pages");
    } finally {
      await browser?.close();
      await server.shutdown();
    }
  },
});
