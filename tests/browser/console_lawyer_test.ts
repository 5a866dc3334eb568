/**
 * The lawyer flow from the console's side: an operator assigns a lawyer from the support chat
 * (picker and reason); the lawyer's console gets the new chat with who assigned it, why, when and
 * the support conversation beside it (read-only), opens that conversation read-only, and talks
 * with the client in the lawyer chat, which the client reaches with the chat token GET /me/chats
 * gives them. In English, then the same context in Russian.
 */
import assert from "node:assert/strict";
import type { WsClient } from "../integration/_harness.ts";
import { check, clientSocket, consoleTest, signIn, startChat } from "./_console.ts";

consoleTest(
  "console lawyer: assigned from a support chat, with who, why and the support conversation",
  async ({ server, open }) => {
    const anna = await startChat(server, { name: "Anna", message: "I want my money back" });
    const annaSocket = await clientSocket(server, anna);

    // The lawyer's console is open before the assignment (as it would be at work).
    const lawyer = (await open()).page;
    await signIn(lawyer, server, await server.staffToken("law-1", "lawyer", "Lena Lawyer"));
    await lawyer.locator("#queue-panel").waitFor({ state: "attached" });

    // The operator takes the chat, answers, and assigns the lawyer with a reason.
    const op = (await open()).page;
    await signIn(op, server, await server.staffToken("op-1", "operator", "Olga"));
    await op.locator(`#queue li[data-chat-id="${anna.chat_id}"] button.accept`).click();
    await op.fill("#chat-text", "Let me check order 4711.");
    await op.press("#chat-text", "Enter");
    await op.locator("#chat-messages li.msg.mine[data-seq]", { hasText: "order 4711" }).waitFor();
    await op.click("#lawyer-btn");
    await op.fill("#dlg-lawyer", "Lena");
    await op.press("#dlg-lawyer", "ArrowDown");
    await op.press("#dlg-lawyer", "Enter");
    await op.fill("#dlg-reason", "Refund dispute over order 4711");
    await op.click("#dialog-ok");
    await op.locator("#chat-messages li.note", { hasText: "Lena Lawyer" }).waitFor();

    // The lawyer gets the chat: who, why, when, and the support conversation beside it.
    const row = lawyer.locator("#my-chats li[data-chat-id]");
    await row.waitFor();
    const lawyerChatId = await row.getAttribute("data-chat-id");
    assert.ok(lawyerChatId && lawyerChatId !== anna.chat_id);
    // Named as the support chat names the client (the lawyer chat carries no name itself).
    await lawyer.locator("#my-chats li[data-chat-id]", { hasText: "Anna" }).waitFor();
    await row.locator("button").first().click();
    await lawyer.locator("#chat-title", { hasText: "Anna" }).waitFor();
    const ctx = lawyer.locator("#context .lawyer-ctx");
    await ctx.locator("dd", { hasText: "Olga" }).waitFor();
    await ctx.locator("dd", { hasText: "Refund dispute over order 4711" }).waitFor();
    const log = lawyer.locator("#linked-log");
    await log.locator(".linked-msg.client", { hasText: "I want my money back" }).waitFor();
    await log.locator(".linked-msg", { hasText: "Let me check order 4711." }).waitFor();
    assert.equal(await log.getAttribute("tabindex"), "0", "the support log scrolls by keyboard");
    await check(lawyer, "console-en-lawyer-context");

    // The client opens the lawyer chat with the token /me/chats gives, and they talk.
    const mine = await fetch(`${server.url}/api/v1/chat/me/chats`, {
      headers: { authorization: `Bearer ${anna.visitor_token}` },
    }).then((r) => r.json());
    const listed = (mine as Array<{ chat_id: string; kind: string; client_token: string }>)
      .find((c) => c.kind === "lawyer");
    assert.equal(listed?.chat_id, lawyerChatId);
    const annaLawyer: WsClient = await clientSocket(server, {
      ...anna,
      chat_id: listed!.chat_id,
      client_token: listed!.client_token,
    });
    const heard = annaLawyer.next((f) =>
      f.type === "message" && f.payload.message === "I will handle your refund."
    );
    await lawyer.fill("#chat-text", "I will handle your refund.");
    await lawyer.press("#chat-text", "Enter");
    await heard;
    annaLawyer.send("message", { text: "Thank you, I have the receipt." });
    await lawyer.locator("#chat-messages li.msg", { hasText: "I have the receipt" }).waitFor();
    assert.ok(
      !JSON.stringify(annaSocket.frames).includes("I will handle your refund"),
      "the lawyer chat stays apart from the support chat",
    );

    // The support conversation opens read-only for the lawyer.
    await lawyer.click("#open-linked-btn");
    await lawyer.locator("#readonly-banner").waitFor();
    await lawyer.locator("#chat-messages li.msg", { hasText: "I want my money back" }).waitFor();
    assert.equal(await lawyer.locator("#composer-wrap").isHidden(), true);
    await check(lawyer, "console-en-lawyer-support-readonly");

    // Russian: the same context in Russian words.
    const ru = (await open()).page;
    await signIn(ru, server, await server.staffToken("law-1", "lawyer", "Lena Lawyer"), "ru");
    await ru.locator(`#my-chats li[data-chat-id="${lawyerChatId}"] button`).first().click();
    const ruCtx = ru.locator("#context .lawyer-ctx");
    await ruCtx.locator("h3", { hasText: "Назначение" }).waitFor();
    await ruCtx.locator("dt", { hasText: "Кто назначил" }).waitFor();
    await ruCtx.locator("dd", { hasText: "Refund dispute over order 4711" }).waitFor();
    await ru.locator("#linked-log", { hasText: "I want my money back" }).waitFor();
    await ru.locator("#open-linked-btn", { hasText: "Открыть диалог с поддержкой" }).waitFor();
    await check(ru, "console-ru-lawyer-context");
  },
);
