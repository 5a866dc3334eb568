/**
 * Transcripts (issue 14): the conversation as a plain-text attachment, in Russian or English
 * (`?lang=` wins over `Accept-Language`), times in the requester's time zone, for the chat's
 * client and the staff who may read it; never staff notes.
 */
import assert from "node:assert/strict";
import { ManualClock } from "../../src/runtime/clock.ts";
import { startTestServer } from "./_harness.ts";
import { assertAck, say } from "./_routing_util.ts";
import { Sockets } from "./_util.ts";
import { apiGet, note } from "./_staff_util.ts";

Deno.test("transcript: plain text in English or Russian, in the reader's time zone, without notes", async () => {
  // 2026-03-10 09:00 UTC = 12:00 in Moscow.
  const clock = new ManualClock(Date.UTC(2026, 2, 10, 9, 0, 0));
  await using server = await startTestServer({}, { clock });
  await using sockets = new Sockets();
  const opToken = await server.staffToken("op-1", "operator", "Анна");
  const op = await sockets.connect(server.wsUrl(opToken));
  const res = await fetch(`${server.url}/api/v1/chat/chats`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: "Ольга", message: "Здравствуйте, где мой заказ?" }),
  });
  const chat = await res.json();
  assertAck(await op.request("accept_chat", { chat_id: chat.chat_id }));
  await clock.advance(90_000);
  assertAck(await say(op, chat.chat_id, "Добрый день! Сейчас проверю."));
  await note(op, chat.chat_id, "internal: the courier lost it");
  const client = await sockets.connect(chat.ws_url);
  assertAck(await client.request("close_chat", {}));
  assertAck(await client.request("rate", { score: 5, comment: "Спасибо" }));

  const path = `chats/${chat.chat_id}/transcript`;
  const ru = await apiGet(server, `${path}?tz=Europe/Moscow`, chat.client_token, {
    "accept-language": "ru-RU,ru;q=0.9,en;q=0.8",
  });
  assert.equal(ru.status, 200);
  assert.equal(ru.headers.get("content-type"), "text/plain; charset=utf-8");
  assert.equal(
    ru.headers.get("content-disposition"),
    `attachment; filename="chat-${chat.chat_id}.txt"`,
  );
  const ruText: string = ru.body;
  assert.match(ruText, new RegExp(`^Чат ${chat.chat_id}\n`));
  assert.match(ruText, /Начат: 10\.03\.2026 12:00:00 \(часовой пояс Europe\/Moscow\)/);
  assert.match(ruText, /\[10\.03\.2026 12:00:00\] Ольга: Здравствуйте, где мой заказ\?/);
  assert.match(
    ruText,
    /\[10\.03\.2026 12:01:30\] Анна \(оператор\): Добрый день! Сейчас проверю\./,
  );
  assert.match(ruText, /— Чат закрыт/);
  assert.match(ruText, /— Оценка: 5\/5 \(Спасибо\)/);
  assert.equal(ruText.includes("courier"), false);

  // English by Accept-Language, UTC by default; `?lang=` wins over the header.
  const en = await apiGet(server, path, opToken, { "accept-language": "en-GB,en;q=0.9" });
  assert.match(en.body, /Started: 2026-03-10 09:00:00 \(time zone UTC\)/);
  assert.match(en.body, /\[2026-03-10 09:01:30\] Анна \(operator\): Добрый день!/);
  assert.match(en.body, /Анна \(operator\) joined the chat/);
  assert.match(en.body, /— Rating: 5\/5 \(Спасибо\)/);
  assert.equal(en.body.includes("courier"), false);
  const forced = await apiGet(server, `${path}?lang=en`, chat.client_token, {
    "accept-language": "ru",
  });
  assert.match(forced.body, /^Chat /);
  assert.equal(forced.headers.get("content-language"), "en");
  const fallback = await apiGet(server, path, chat.client_token, { "accept-language": "de, fr" });
  assert.match(fallback.body, /^Chat /);

  // Bad time zones are refused; others' chats are not theirs to read.
  assert.equal((await apiGet(server, `${path}?tz=Mars/Olympus`, opToken)).status, 400);
  const other = await server.createChat("someone-else");
  assert.equal((await apiGet(server, path, other.client_token)).status, 403);
  assert.equal(
    (await apiGet(server, path, await server.staffToken("law-9", "lawyer"))).status,
    403,
  );
  assert.equal((await apiGet(server, path)).status, 401);
});
