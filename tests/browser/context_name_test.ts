/**
 * The console's customer context (web/console/context.js) shows the client's name from the chat
 * when the site's profile has none (a Telegram user). It redraws only when its inputs change, and
 * the chat's name was not among them: when the profile arrived before the chat's first event
 * (which carries the name), the panel kept "Visitor …" (a flaky telegram_console_test under load).
 * Headless Chromium, the real server for the profile request, the chat's events applied in that
 * order by the test.
 */
import assert from "node:assert/strict";
import { browserTest, newPage } from "./_browser.ts";
import { startChat } from "./_console.ts";
import { Staff } from "./_widget.ts";

// deno-lint-ignore no-explicit-any
declare const document: any;

browserTest(
  "browser: the customer context takes the chat's name that arrives after the profile",
  async ({ server, browser }) => {
    const olga = await Staff.connect(server, "op-1", "operator", "Olga");
    try {
      const chat = await startChat(server, { message: "Hi" }); // no name: the profile has none
      await olga.ok("accept_chat", { chat_id: chat.chat_id });
      const { page } = await newPage(browser, { width: 1200, height: 800 });
      await page.goto(`${server.url}/console`);
      const token = await server.staffToken("op-1", "operator", "Olga");
      const shown = await page.evaluate(async ({ chatId, clientId, token }) => {
        const load = (p: string) => import(String(`/static/console/${p}`));
        const { Store } = await load("store.js");
        const { ContextPanel } = await load("context.js");
        const { setToken } = await load("api.js");
        setToken(token);
        const store = new Store();
        const panel = new ContextPanel(store);
        store.addEventListener("change", () => panel.render());
        const at = new Date().toISOString();
        store.apply({ type: "connected", payload: { user_id: "op-1", role: "operator" } });
        // The assignment first (live), the profile read, and only then the chat's first event.
        store.apply({
          type: "chat_assigned",
          payload: { chat_id: chatId, seq: 3, operator_id: "op-1", timestamp: at },
        });
        store.activeId = chatId;
        panel.render();
        const name = () => document.querySelector("#context .ctx-name strong")?.textContent;
        for (let i = 0; i < 200 && !name(); i++) await new Promise((r) => setTimeout(r, 25));
        const before = name();
        store.apply({
          type: "chat_created",
          payload: {
            chat_id: chatId,
            seq: 1,
            client_id: clientId,
            channel: { kind: "telegram", ref: "42", name: "Ada" },
            timestamp: at,
          },
        });
        panel.render();
        return { before, after: name() };
      }, { chatId: chat.chat_id, clientId: chat.client_id, token });
      assert.ok(shown.before, "the panel showed the profile");
      assert.equal(shown.after, "Ada");
    } finally {
      await olga.close();
    }
  },
);
