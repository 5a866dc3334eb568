/**
 * The console's inbox in Chromium: the queue shows who waits and what they asked, opening a chat
 * does not reorder the list, the customer's context sits beside the conversation, internal notes
 * with @mentions and labels stay among staff (the client's socket and history never carry them),
 * and the same page in Russian after a language switch. axe over every state.
 */
import assert from "node:assert/strict";
import type { Browser } from "playwright-core";
import { startTestServer, WsClient } from "../integration/_harness.ts";
import { launchBrowser, newPage } from "./_browser.ts";
import {
  check,
  clientSocket,
  clientVisibleText,
  DESKTOP,
  rowIds,
  signIn,
  startChat,
  VISIT,
} from "./_console.ts";

Deno.test({
  name: "console: queue previews, stable order, customer context, notes, mentions and labels",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const server = await startTestServer();
    let browser: Browser | null = null;
    const sockets: WsClient[] = [];
    try {
      // A colleague is known to the server (connected once): notes may mention them.
      const op2 = await WsClient.connect(
        server.wsUrl(await server.staffToken("op-2", "operator", "Pavel")),
      );
      sockets.push(op2);
      const anna = await startChat(server, {
        name: "Anna Petrova",
        email: "anna@example.com",
        message: "Where is my order 4711?",
        attributes: VISIT,
      });
      const boris = await startChat(server, { name: "Boris", message: "I need an invoice" });
      const annaSocket = await clientSocket(server, anna);
      const borisSocket = await clientSocket(server, boris);
      sockets.push(annaSocket, borisSocket);

      browser = await launchBrowser();
      const { page, errors } = await newPage(browser, DESKTOP);
      await signIn(page, server, await server.staffToken("op-1", "operator", "Olga"));

      // The queue names each client and shows their first message.
      const annaRow = page.locator(`#queue li[data-chat-id="${anna.chat_id}"]`);
      await annaRow.locator(".preview", { hasText: "Where is my order 4711?" }).waitFor();
      await annaRow.locator("strong", { hasText: "Anna Petrova" }).waitFor();
      await page.locator(`#queue li[data-chat-id="${boris.chat_id}"] .preview`, {
        hasText: "I need an invoice",
      }).waitFor();
      await check(page, "console-en-queue");

      // A click on the row is a preview (read-only, with Accept); then both are accepted.
      await annaRow.locator(".row-btn").click();
      await page.locator("#readonly-banner", { hasText: "preview" }).waitFor();
      await page.locator("#chat-messages li.msg", { hasText: "order 4711" }).waitFor();
      await check(page, "console-en-preview");
      await page.click("#preview-accept-btn");
      await page.locator("#chat-messages li.note", { hasText: "You accepted the chat" }).waitFor();
      await page.locator(`#queue li[data-chat-id="${boris.chat_id}"] button.accept`).click();
      await page.locator(`#my-chats li[data-chat-id="${boris.chat_id}"]`).waitFor();

      // Boris writes, then Anna (whose chat is open): hers goes first. Opening Boris's chat
      // reports it read, which must not move it above Anna's.
      await page.locator(`#my-chats li[data-chat-id="${anna.chat_id}"] .row-btn`).click();
      borisSocket.send("message", { text: "Hello?" });
      await page.locator(`#my-chats li[data-chat-id="${boris.chat_id}"] .preview`, {
        hasText: "Hello?",
      })
        .waitFor();
      annaSocket.send("message", { text: "Any news?" });
      await page.locator(`#my-chats li[data-chat-id="${anna.chat_id}"] .preview`, {
        hasText: "Any news?",
      }).waitFor();
      assert.deepEqual(await rowIds(page, "#my-chats"), [anna.chat_id, boris.chat_id]);
      const readSeen = borisSocket.next(
        (f) => f.type === "read" && f.payload.user_id === "op-1",
        { from: borisSocket.frames.length },
      );
      await page.locator(`#my-chats li[data-chat-id="${boris.chat_id}"] .row-btn`).click();
      await readSeen;
      // The client types after seeing the read: the console gets the read before the typing.
      borisSocket.send("typing", { is_typing: true });
      await page.locator("#chat-typing").waitFor({ state: "visible" });
      assert.deepEqual(
        await rowIds(page, "#my-chats"),
        [anna.chat_id, boris.chat_id],
        "opening a chat does not reorder the list",
      );

      // The customer's context beside the conversation.
      await page.locator(`#my-chats li[data-chat-id="${anna.chat_id}"] .row-btn`).click();
      const ctx = page.locator("#context");
      await ctx.locator(".ctx-name", { hasText: "Anna Petrova" }).waitFor();
      for (
        const text of [
          "anna@example.com",
          "Order 4711 · Example shop",
          "Chrome 126 · Windows",
          "Europe/Moscow",
          "gold",
        ]
      ) {
        await ctx.getByText(text, { exact: false }).first().waitFor();
      }
      assert.equal(await page.locator("#chat-title").textContent(), "Anna Petrova");

      // An internal note with a mention picked from the list (keyboard), then a label.
      await page.click("#mode-note");
      await page.locator("#composer-wrap.note-mode").waitFor();
      await page.locator("#chat-text").pressSequentially("VIP customer, refund approved. @op", {
        delay: 5,
      });
      await page.locator("#mention-list li", { hasText: "Pavel" }).waitFor();
      await check(page, "console-en-mention-list");
      await page.keyboard.press("Enter");
      assert.match(await page.inputValue("#chat-text"), /@op-2 $/);
      const mentioned = op2.next((f) => f.type === "mention");
      await page.keyboard.press("Enter");
      const note = page.locator("#chat-messages li.internal-note", { hasText: "VIP customer" });
      await note.waitFor();
      await note.locator("mark.mention", { hasText: "@op-2" }).waitFor();
      const mention = await mentioned;
      assert.equal(mention.payload.chat_id, anna.chat_id);
      assert.equal(mention.payload.by, "op-1");

      await page.fill("#label-input", "refund");
      await page.click("#label-add");
      await page.locator('#chat-labels li[data-label="refund"]').waitFor();
      await page.locator(`#my-chats li[data-chat-id="${anna.chat_id}"] .chip`, {
        hasText: "refund",
      })
        .waitFor();
      await page.selectOption("#label-filter", "refund");
      await page.locator(`#my-chats li[data-chat-id="${boris.chat_id}"]`).waitFor({
        state: "detached",
      });
      assert.deepEqual(await rowIds(page, "#my-chats"), [anna.chat_id]);
      await check(page, "console-en-note-label");
      await page.selectOption("#label-filter", "");

      // A reply reaches the client; the note and the label never do.
      await page.click("#mode-reply");
      await page.fill("#chat-text", "Your refund is on its way.");
      await page.press("#chat-text", "Enter");
      await annaSocket.next((f) =>
        f.type === "message" && f.payload.message === "Your refund is on its way."
      );
      const seen = await clientVisibleText(server, anna, annaSocket);
      assert.ok(seen.includes("Your refund is on its way."));
      assert.ok(!seen.includes("VIP customer"), "the note never reaches the client");
      assert.ok(!seen.includes("refund approved"), "the note never reaches the client");
      assert.ok(!/"labels"|"note"/.test(seen), "no staff-stream frame reaches the client");

      // The same page in Russian, switched in the header.
      await page.selectOption("#lang-select", "ru");
      await page.locator("html[lang=ru]").waitFor();
      await page.locator("#chat-messages li.note", { hasText: "Вы приняли чат" }).waitFor();
      await note.locator(".note-tag", { hasText: "Внутренняя заметка" }).waitFor();
      await page.locator("#context h3", { hasText: "Клиент" }).waitFor();
      await page.locator("#context dt", { hasText: "Эл. почта" }).waitFor();
      await page.locator(".panel h2", { hasText: "Очередь" }).waitFor();
      assert.equal(await page.locator("#send-btn").textContent(), "Отправить");
      assert.equal(await page.locator("#mode-note").textContent(), "Заметка");
      await check(page, "console-ru-chat");
      assert.deepEqual(errors, [], "no page errors");
    } finally {
      for (const s of sockets) s.ws.close();
      await browser?.close();
      await server.shutdown();
    }
  },
});
