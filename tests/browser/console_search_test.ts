/**
 * Search in the console, in English and in Russian: word forms find each other ("parcels" finds
 * "parcel", «заказы» finds «заказ»), filters by status, label and dates, snippets with the
 * matched words highlighted, and a closed chat opened read-only (no reply box), then back.
 */
import assert from "node:assert/strict";
import type { TestServer, WsClient } from "../integration/_harness.ts";
import { check, consoleTest, PHONE, signIn, startChat } from "./_console.ts";

/** A chat an operator took, answered, labelled and closed (over the protocol). */
async function servedChat(
  server: TestServer,
  staff: WsClient,
  o: { name: string; message: string; reply: string; labels?: string[]; close?: boolean },
): Promise<string> {
  const chat = await startChat(server, { name: o.name, message: o.message });
  const ok = (f: { type: string }) => assert.equal(f.type, "ack", JSON.stringify(f));
  ok(await staff.request("accept_chat", { chat_id: chat.chat_id }));
  ok(await staff.request("message", { chat_id: chat.chat_id, text: o.reply }));
  if (o.labels) ok(await staff.request("set_labels", { chat_id: chat.chat_id, labels: o.labels }));
  if (o.close !== false) ok(await staff.request("close_chat", { chat_id: chat.chat_id }));
  return chat.chat_id;
}

consoleTest(
  "console: search in English and Russian, filters, highlights, a closed chat read-only",
  async ({ server, open, staff }) => {
    const op2 = await staff("op-2", "operator", "Pavel");
    const maria = await servedChat(server, op2, {
      name: "Мария",
      message: "Как вернуть деньги за заказ?",
      reply: "Возврат оформлен, деньги придут за три дня.",
      labels: ["возврат"],
    });
    const john = await servedChat(server, op2, {
      name: "John",
      message: "My parcel was damaged in delivery",
      reply: "Sorry about the parcel, a new one is on its way.",
      labels: ["delivery"],
    });
    await startChat(server, { name: "Kate", message: "Where is my invoice?" });

    const { page } = await open();
    await signIn(page, server, await server.staffToken("op-1", "operator", "Olga"));
    await page.click('#views a[data-view="search"]');
    await page.fill("#search-q", "parcels");
    await page.selectOption("#search-status", "closed");
    await page.click("#search-btn");
    const hit = page.locator(`#search-results li[data-chat-id="${john}"]`);
    await hit.locator("mark", { hasText: /parcel/i }).first().waitFor();
    assert.equal(await page.locator("#search-results li").count(), 1);
    await page.locator("#search-status-line", { hasText: "1 conversation found" }).waitFor();
    await check(page, "console-en-search");

    // By operator: Pavel's two chats, not Kate's waiting one; nobody else's are.
    await page.fill("#search-q", "");
    await page.selectOption("#search-status", "");
    await page.locator('#search-operator option[value="op-2"]', { hasText: "Pavel" }).waitFor({
      state: "attached",
    });
    await page.selectOption("#search-operator", "op-2");
    await page.click("#search-btn");
    await page.locator("#search-status-line", { hasText: "2 conversations found" }).waitFor();
    assert.deepEqual(
      (await page.locator("#search-results li").evaluateAll((els) =>
        els.map((e) => e.getAttribute("data-chat-id"))
      )).sort(),
      [john, maria].sort(),
    );
    await page.selectOption("#search-operator", "");
    await page.fill("#search-q", "parcels");
    await page.selectOption("#search-status", "closed");
    await page.click("#search-btn");
    await page.locator("#search-status-line", { hasText: "1 conversation found" }).waitFor();

    // A closed chat of a colleague opens read-only; back returns to the results.
    await hit.locator(".result-btn").click();
    await page.locator("#readonly-banner", { hasText: "closed" }).waitFor();
    await page.locator("#chat-messages li.msg", { hasText: "damaged in delivery" }).waitFor();
    await page.locator("#chat-messages li.msg", { hasText: "new one is on its way" }).waitFor();
    assert.equal(await page.locator("#composer-wrap").isHidden(), true);
    assert.equal(await page.locator("#close-btn").isHidden(), true);
    await page.locator("#chat-labels li", { hasText: "delivery" }).waitFor();
    await check(page, "console-en-closed-readonly");
    await page.click("#back-btn");
    await page.locator("#view-search").waitFor({ state: "visible" });
    await hit.waitFor();

    // Russian: a word form, a label, a date range that excludes everything.
    const ru = await open();
    await signIn(ru.page, server, await server.staffToken("op-3", "operator", "Ирина"), "ru");
    await ru.page.click('#views a[data-view="search"]');
    await ru.page.locator("#search-h", { hasText: "Поиск по диалогам" }).waitFor();
    await ru.page.fill("#search-q", "заказы деньги");
    await ru.page.click("#search-btn");
    const ruHit = ru.page.locator(`#search-results li[data-chat-id="${maria}"]`);
    await ruHit.locator("mark").first().waitFor();
    await ruHit.locator(".badge", { hasText: "закрыт" }).waitFor();
    await ru.page.locator("#search-status-line", { hasText: "Найден 1 диалог" }).waitFor();
    await ru.page.fill("#search-label", "delivery");
    await ru.page.fill("#search-q", "");
    await ru.page.click("#search-btn");
    await ru.page.locator(`#search-results li[data-chat-id="${john}"]`).waitFor();
    assert.equal(await ru.page.locator("#search-results li").count(), 1);
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    await ru.page.fill("#search-label", "");
    await ru.page.fill("#search-from", tomorrow);
    await ru.page.click("#search-btn");
    await ru.page.locator("#search-status-line", { hasText: "Ничего не найдено." }).waitFor();
    await ru.page.fill("#search-from", "");
    await ru.page.fill("#search-q", "вернуть");
    await ru.page.click("#search-btn");
    await ruHit.waitFor();
    await check(ru.page, "console-ru-search");
    await ruHit.locator(".result-btn").click();
    await ru.page.locator("#readonly-banner", { hasText: "Диалог закрыт" }).waitFor();
    await ru.page.locator("#chat-messages li.msg", { hasText: "Возврат оформлен" }).waitFor();
    await check(ru.page, "console-ru-closed-readonly");

    // The same on a phone.
    const phone = await open(PHONE);
    await signIn(phone.page, server, await server.staffToken("op-4", "operator"), "ru");
    await phone.page.click('#views a[data-view="search"]');
    await phone.page.fill("#search-q", "посылка parcel");
    await phone.page.click("#search-btn");
    await phone.page.locator(`#search-results li[data-chat-id="${john}"]`).waitFor();
    await check(phone.page, "console-ru-search-375");
  },
);
