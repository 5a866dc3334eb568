/**
 * The console by keyboard only: sign in, accept with A, reply with R, switch chats with Alt+↑/↓
 * and J/K, a note with N, transfer with T through the staff picker (↓, Enter), the shortcut
 * list with ?, search with /, the conversation scrolled from the keyboard, focus always visible.
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { check, clientSocket, consoleTest, signIn, startChat } from "./_console.ts";

/** The id of the focused element. */
const focused = (page: Page) => page.evaluate("document.activeElement?.id ?? ''");

/** Presses Tab until `id` has focus (at most `max` times). */
async function tabTo(page: Page, id: string, max = 30, key = "Tab") {
  for (let i = 0; i < max; i++) {
    if (await focused(page) === id) return;
    await page.keyboard.press(key);
  }
  assert.fail(`#${id} never got the focus by ${key}`);
}

/** Whether the focused element shows a focus ring. */
const ringed = (page: Page) =>
  page.evaluate(
    "(() => { const s = getComputedStyle(document.activeElement); return s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2; })()",
  );

consoleTest(
  "console: keyboard only — accept, reply, switch, note, transfer, help, search, scroll",
  async ({ server, open, staff }) => {
    const op2 = await staff("op-2", "operator", "Pavel");
    const anna = await startChat(server, { name: "Anna", message: "Hi, order 4711 is late" });
    const boris = await startChat(server, { name: "Boris", message: "Invoice please" });
    const annaSocket = await clientSocket(server, anna);
    const { page } = await open();

    // Sign in without the mouse.
    await page.goto(`${server.url}/console`);
    await tabTo(page, "token");
    await page.keyboard.type(await server.staffToken("op-1", "operator", "Olga"));
    await page.keyboard.press("Tab");
    assert.equal(await focused(page), "signin-btn");
    assert.ok(await ringed(page), "the focused button shows a ring");
    await page.keyboard.press("Enter");
    await page.locator('#conn-status[data-tone="ok"]').waitFor();
    await page.locator(`#queue li[data-chat-id="${boris.chat_id}"]`).waitFor();

    // A accepts the first waiting chat, twice; R goes to the reply box.
    await page.keyboard.press("a");
    await page.locator(`#my-chats li[data-chat-id="${anna.chat_id}"]`).waitFor();
    await page.locator("#chat-messages li.note", { hasText: "You accepted the chat" }).waitFor();
    await page.keyboard.press("Tab"); // out of the reply box accept() focused
    await page.keyboard.press("a");
    await page.locator(`#my-chats li[data-chat-id="${boris.chat_id}"]`).waitFor();
    await page.locator("#chat-title", { hasText: "Boris" }).waitFor();
    await page.keyboard.press("Tab");
    await page.keyboard.press("r");
    assert.equal(await focused(page), "chat-text");
    await page.keyboard.type("Your invoice is on its way.");
    await page.keyboard.press("Enter");
    await page.locator("#chat-messages li.msg.mine[data-seq]", { hasText: "invoice is on" })
      .waitFor();

    // Alt+↓ / Alt+↑ switch chats even from the reply box; J and K outside it.
    await page.keyboard.press("Alt+ArrowDown");
    await page.locator("#chat-title", { hasText: "Anna" }).waitFor();
    await page.keyboard.press("Alt+ArrowUp");
    await page.locator("#chat-title", { hasText: "Boris" }).waitFor();
    await page.keyboard.press("Tab");
    await page.keyboard.press("j");
    await page.locator("#chat-title", { hasText: "Anna" }).waitFor();
    await page.keyboard.press("k");
    await page.locator("#chat-title", { hasText: "Boris" }).waitFor();
    await page.keyboard.press("j");
    await page.locator("#chat-title", { hasText: "Anna" }).waitFor();

    // N: an internal note.
    await page.keyboard.press("n");
    assert.equal(await focused(page), "chat-text");
    await page.locator("#composer-wrap.note-mode").waitFor();
    await page.keyboard.type("Checked the courier: delayed a day");
    await page.keyboard.press("Enter");
    await page.locator("#chat-messages li.internal-note", { hasText: "delayed a day" }).waitFor();

    // The conversation scrolls from the keyboard: the client sends enough to overflow it.
    for (let i = 1; i <= 30; i++) annaSocket.send("message", { text: `Line ${i} of my story` });
    await page.locator("#chat-messages li.msg", { hasText: "Line 30 of my story" }).waitFor();
    // The console's read of it is stored and echoed before the scrolling starts (the echo
    // redraws the conversation, which must not race the keys below).
    const line30 = await annaSocket.next((f) =>
      f.type === "message" && f.payload.message === "Line 30 of my story"
    );
    await annaSocket.next((f) =>
      f.type === "read" && f.payload.role === "operator" &&
      (f.payload.last_read_seq as number) >= (line30.payload.seq as number)
    );
    await tabTo(page, "chat-log", 40, "Shift+Tab");
    assert.ok(await ringed(page), "the message log shows a focus ring");
    const bottom = await page.locator("#chat-log").evaluate((el) => el.scrollTop);
    assert.ok(bottom > 0, "the log overflowed");
    // Keyboard scrolling is animated: each key's scroll is awaited to its end (`scrollend`).
    const scrolled = async (key: string) => {
      const ended = page.evaluate(
        "new Promise((r) => document.getElementById('chat-log').addEventListener('scrollend', () => r(document.getElementById('chat-log').scrollTop), { once: true }))",
      );
      await page.keyboard.press(key);
      return Number(await ended);
    };
    assert.equal(await scrolled("Home"), 0, "Home scrolls to the first message");
    assert.ok(await scrolled("End") >= bottom - 2, "End scrolls back to the newest");

    // T: transfer to a colleague picked from the list (↓, Enter), a reason, Enter.
    await page.keyboard.press("t");
    await page.locator("#dialog[open] #dlg-target").waitFor();
    assert.equal(await focused(page), "dlg-target");
    await page.keyboard.type("Pav");
    await page.keyboard.press("ArrowDown");
    await page.keyboard.press("Enter");
    await page.locator('#dlg-target-list li[aria-selected="true"]', { hasText: "Pavel" })
      .waitFor();
    await check(page, "console-en-transfer-picker");
    await tabTo(page, "dlg-reason");
    await page.keyboard.type("Courier questions are Pavel's");
    const moved = op2.next((f) =>
      f.type === "chat_transferred" && f.payload.to_operator_id === "op-2"
    );
    await page.keyboard.press("Enter");
    await moved;
    await page.locator("#chat-state", { hasText: "Transferred" }).waitFor();

    // ? lists the shortcuts; Esc closes the list.
    await page.keyboard.press("Tab");
    await page.keyboard.press("Shift+Slash");
    await page.locator("#help-dialog[open] kbd", { hasText: "Alt+↓" }).waitFor();
    await check(page, "console-en-shortcuts");
    await page.keyboard.press("Escape");
    await page.locator("#help-dialog[open]").waitFor({ state: "detached" });

    // / goes to the search box.
    await page.keyboard.press("/");
    assert.equal(await focused(page), "search-q");
    await page.keyboard.type("invoice");
    await page.keyboard.press("Enter");
    await page.locator(`#search-results li[data-chat-id="${boris.chat_id}"]`).waitFor();
    await page.keyboard.press("Tab"); // whatever comes next shows a ring too
    assert.ok(await ringed(page), "focus stays visible in the search view");

    // Russian, typed on a Russian layout: the A key gives "ф" and still accepts (by its place).
    const galina = await startChat(server, { name: "Галина", message: "Добрый день" });
    const ru = (await open()).page;
    await signIn(ru, server, await server.staffToken("op-3", "operator", "Ирина"), "ru");
    await ru.locator(`#queue li[data-chat-id="${galina.chat_id}"]`).waitFor();
    await ru.evaluate(
      "document.body.dispatchEvent(new KeyboardEvent('keydown', { key: 'ф', code: 'KeyA', bubbles: true }))",
    );
    await ru.locator(`#my-chats li[data-chat-id="${galina.chat_id}"]`).waitFor();
    await ru.locator("#chat-title", { hasText: "Галина" }).waitFor();
    await ru.keyboard.press("Tab");
    await ru.keyboard.press("Shift+Slash");
    await ru.locator("#help-dialog[open] td", { hasText: "Следующий чат" }).waitFor();
    await check(ru, "console-ru-shortcuts");
  },
);
