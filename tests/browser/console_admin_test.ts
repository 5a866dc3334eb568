/**
 * Admin management in the console, each change checked over the admin REST: an operator's
 * capacity and status, a waiting chat's priority (the queue reorders), a canned response created,
 * edited and deleted, a webhook created (secret shown once), edited and deleted, and a dead letter
 * of a failing receiver replayed to the same delivery id once the receiver is back. English, then
 * Russian; axe and a screenshot in each state.
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import type { TestServer } from "../integration/_harness.ts";
import { Receiver } from "../integrations/_webhooks_receiver.ts";
import { check, consoleTest, signIn, startChat } from "./_console.ts";

/** GET under /api/v1/chat/admin/ with an admin token. */
async function admin(server: TestServer, path: string) {
  const res = await fetch(`${server.url}/api/v1/chat/admin/${path}`, {
    headers: { authorization: `Bearer ${await server.staffToken("admin-9", "admin")}` },
  });
  assert.equal(res.status, 200, await res.clone().text());
  return await res.json();
}

/** An operator's entry in GET admin/operators. */
async function operator(server: TestServer, id: string) {
  return (await admin(server, "operators")).find((o: { operator_id: string }) =>
    o.operator_id === id
  );
}

/** Waits until `fn` (a REST read) holds; a guard timeout, never a delay. */
async function until(what: string, fn: () => Promise<boolean>, ms = 10_000) {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) assert.fail(`never came true over REST: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const tab = (page: Page, name: string) => page.click(`#admin-tab-${name}`);

consoleTest(
  "console admin: capacity, status, priority, canned responses, webhooks and dead letters",
  async ({ server, open, staff }) => {
    await using receiver = await Receiver.start();
    await staff("op-1", "operator", "Olga");
    const first = await startChat(server, { name: "Anna", message: "Where is my order?" });
    const second = await startChat(server, {
      name: "Boris",
      message: "Urgent: card charged twice",
    });
    const { page } = await open();
    await signIn(page, server, await server.staffToken("admin-1", "admin", "Alla"));
    await page.click('#views a[data-view="admin"]');

    // Operators: capacity 3 and away, as the admin REST reports them.
    const op1 = page.locator('#operators tr[data-operator-id="op-1"]');
    await op1.locator(".op-capacity").fill("3");
    await op1.locator(".op-capacity").press("Enter");
    await until(
      "op-1 capacity 3",
      async () => (await operator(server, "op-1"))?.capacity === 3,
    );
    await op1.locator(".op-status").selectOption("away");
    await until(
      "op-1 away",
      async () => (await operator(server, "op-1"))?.status === "away",
    );
    await op1.locator(".op-capacity").fill("-2");
    await op1.locator(".op-capacity").press("Enter");
    await op1.locator(".field-error", { hasText: "whole number" }).waitFor();
    await check(page, "console-en-admin-operators");

    // Queue: Boris gets priority 5 and goes first.
    await tab(page, "queue");
    const boris = page.locator(`#queue-admin tr[data-chat-id="${second.chat_id}"]`);
    await boris.locator(".prio-input").fill("5");
    await boris.locator(".prio-input").press("Enter");
    await until("Boris first with priority 5", async () => {
      const q = await admin(server, "queue");
      return q.waiting[0]?.chat_id === second.chat_id && q.waiting[0]?.priority === 5;
    });
    await page.locator("#queue-admin tbody tr").first().locator("th", { hasText: "Boris" })
      .waitFor();
    assert.equal(
      await page.locator("#queue-admin tbody tr").nth(1).getAttribute("data-chat-id"),
      first.chat_id,
    );
    await check(page, "console-en-admin-queue");

    // Canned responses: create, edit, delete.
    await tab(page, "canned");
    await page.click("#canned-new");
    await page.fill("#dlg-title", "Refund time");
    await page.fill("#dlg-text", "Refunds reach your card within 3 days.");
    await page.fill("#dlg-tags", "refund, card");
    await check(page, "console-en-admin-canned-dialog");
    await page.click("#dialog-ok");
    const canned = async () => (await admin(server, "canned-responses")).canned_responses;
    await until(
      "the canned response exists",
      async () =>
        (await canned()).some((c: { title: string; tags: string[] }) =>
          c.title === "Refund time" && c.tags.join() === "refund,card"
        ),
    );
    const row = page.locator("#canned tbody tr", { hasText: "Refund time" });
    await row.getByRole("button", { name: "Edit Refund time" }).click();
    assert.equal(await page.inputValue("#dlg-text"), "Refunds reach your card within 3 days.");
    await page.fill("#dlg-text", "Refunds reach your card within 5 working days.");
    await page.click("#dialog-ok");
    await until(
      "the canned response edited",
      async () => (await canned()).some((c: { text: string }) => c.text.includes("5 working days")),
    );
    await row.locator("td", { hasText: "5 working days" }).waitFor();
    await check(page, "console-en-admin-canned");
    await row.getByRole("button", { name: "Delete Refund time" }).click();
    await page.click("#dialog-ok");
    await until("the canned response deleted", async () => (await canned()).length === 0);
    await page.locator("#canned tbody tr").waitFor({ state: "detached" });

    // Webhooks: a receiver that fails; its delivery becomes a dead letter.
    await tab(page, "webhooks");
    receiver.plan("/hook", { status: 500 });
    await page.click("#webhook-new");
    await page.fill("#dlg-url", "ftp://example.com");
    await page.click("#dialog-ok");
    await page.locator("#dlg-url-error", { hasText: "http://" }).waitFor();
    await page.fill("#dlg-url", `${receiver.url}/hook`);
    await page.fill("#dlg-description", "CRM sync");
    await page.click("#dialog-ok");
    await page.locator("#webhook-secret").waitFor();
    const hooks = () => admin(server, "webhooks");
    const [hook] = await hooks();
    assert.deepEqual([hook.url, hook.events, hook.description, hook.enabled], [
      `${receiver.url}/hook`,
      ["chat.created"],
      "CRM sync",
      true,
    ]);
    const hookRow = page.locator(`#webhooks tr[data-webhook-id="${hook.id}"]`);
    await hookRow.getByRole("button", { name: /^Edit / }).click();
    await page.check("#dlg-ev-chat-closed");
    await page.fill("#dlg-description", "CRM sync (orders)");
    await page.click("#dialog-ok");
    await until("the webhook edited", async () => {
      const [h] = await hooks();
      return h.description === "CRM sync (orders)" &&
        h.events.join() === "chat.created,chat.closed";
    });

    const failed = await startChat(server, { name: "Carl", message: "Hello" });
    await receiver.next((r) => r.payload.chat_id === failed.chat_id);
    await until(
      "a dead letter",
      async () => (await admin(server, "webhooks/dead-letters")).dead_letters.length === 1,
    );
    await page.click("#dead-refresh");
    const dead = page.locator("#dead-letters tbody tr");
    await dead.locator(".dead-why", { hasText: "Every try failed" }).waitFor();
    await dead.locator(".dead-why", { hasText: "HTTP 500" }).waitFor();
    await check(page, "console-en-admin-dead-letters");
    const deliveryId = await dead.getAttribute("data-dead-id");
    const from = receiver.requests.length;
    await dead.locator(".dead-replay").click(); // the receiver answers 200 now
    const replayed = await receiver.next((r) => r.delivery === deliveryId, from);
    assert.equal(replayed.payload.chat_id, failed.chat_id);
    await page.locator("#dead-status", { hasText: "Sent again" }).waitFor();
    await dead.waitFor({ state: "detached" });
    assert.equal((await admin(server, "webhooks/dead-letters")).dead_letters.length, 0);

    await hookRow.getByRole("button", { name: /^Delete / }).click();
    await page.click("#dialog-ok");
    await until("the webhook deleted", async () => (await hooks()).length === 0);
    await hookRow.waitFor({ state: "detached" });

    // Russian: the same management, in Russian words and numbers.
    const ru = (await open()).page;
    await signIn(ru, server, await server.staffToken("admin-2", "admin", "Алла"), "ru");
    await ru.click('#views a[data-view="admin"]');
    await ru.locator("#admin-tab-operators", { hasText: "Операторы" }).waitFor();
    const ruOp = ru.locator('#operators tr[data-operator-id="op-1"]');
    await ruOp.locator(".op-status option:checked", { hasText: "Отошёл" }).waitFor({
      state: "attached",
    });
    await ruOp.locator(".op-capacity").fill("4");
    await ruOp.getByRole("button", { name: "Сохранить" }).click();
    await until(
      "op-1 capacity 4",
      async () => (await operator(server, "op-1"))?.capacity === 4,
    );
    await ruOp.locator("td", { hasText: "0/4" }).waitFor();
    await check(ru, "console-ru-admin-operators");
    await tab(ru, "canned");
    await ru.click("#canned-new");
    await ru.click("#dialog-ok");
    await ru.locator("#dlg-title-error", { hasText: "Обязательное поле" }).waitFor();
    await ru.fill("#dlg-title", "Возврат");
    await ru.fill("#dlg-text", "Деньги вернутся на карту за 3 дня.");
    await ru.click("#dialog-ok");
    await until(
      "the Russian canned response",
      async () => (await canned()).some((c: { title: string }) => c.title === "Возврат"),
    );
    await check(ru, "console-ru-admin-canned");
    await tab(ru, "webhooks");
    await ru.locator("#dead-status", { hasText: "Недоставленных событий нет" }).waitFor();
    receiver.plan("/ru", { status: 503 });
    await ru.click("#webhook-new");
    await ru.fill("#dlg-url", `${receiver.url}/ru`);
    await ru.click("#dialog-ok");
    await ru.locator("#webhook-secret").waitFor();
    const ruFailed = await startChat(server, { name: "Дарья", message: "Здравствуйте" });
    await receiver.next((r) => r.path === "/ru" && r.payload.chat_id === ruFailed.chat_id);
    await until(
      "a dead letter for /ru",
      async () => (await admin(server, "webhooks/dead-letters")).dead_letters.length === 1,
    );
    await ru.click("#dead-refresh");
    await ru.locator("#dead-letters .dead-why", {
      hasText: "Все попытки неудачны · 1 попытка · HTTP 503",
    }).waitFor();
    await ru.locator("#dead-status", { hasText: "1 недоставленное событие" }).waitFor();
    await check(ru, "console-ru-admin-webhooks");
  },
  { env: { WEBHOOK_MAX_ATTEMPTS: "1" } },
);
