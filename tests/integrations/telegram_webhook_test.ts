/** Telegram webhook mode: a real server receives updates on its webhook route (fake Bot API). */
import assert from "node:assert/strict";
import { Hono } from "hono";
import { loadConfig } from "../../src/config.ts";
import { AppError } from "../../src/errors.ts";
import type { IntegrationContext } from "../../src/integrations/mod.ts";
import { startTelegram } from "../../src/integrations/telegram/mod.ts";
import { TEXTS } from "../../src/integrations/telegram/_texts.ts";
import { SECRET_HEADER, webhookRoutes } from "../../src/integrations/telegram/webhook.ts";
import { silentLogger } from "../../src/log.ts";
import { installErrorHandling } from "../../src/server/http.ts";
import { newApi } from "../../src/server/openapi.ts";
import { startTestServer } from "../integration/_harness.ts";
import { allEvents, Sockets } from "../integration/_util.ts";
import { FakeTelegram, textUpdate } from "./_fake_telegram.ts";
import { KEYS } from "./_telegram_util.ts";

const SECRET = "s3cret_Token-1";
const PUBLIC = "https://support.example/api/v1/chat/telegram/webhook";

function post(url: string, body: unknown, secret?: string): Promise<Response> {
  return fetch(`${url}/api/v1/chat/telegram/webhook`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(secret === undefined ? {} : { [SECRET_HEADER]: secret }),
    },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

Deno.test("Telegram webhook: checks the secret, stores an update once, replies go out", async () => {
  await using fake = FakeTelegram.start();
  await using server = await startTestServer({
    TELEGRAM_BOT_TOKEN: "test",
    TELEGRAM_API_URL: fake.url,
    TELEGRAM_MODE: "webhook",
    TELEGRAM_WEBHOOK_SECRET: SECRET,
    TELEGRAM_WEBHOOK_URL: PUBLIC,
  });
  await using sockets = new Sockets();
  const set = await fake.waitFor((c) => c.method === "setWebhook");
  assert.deepEqual(set.body, { url: PUBLIC, secret_token: SECRET, allowed_updates: ["message"] });

  const update = textUpdate(500, "Hi via webhook", { id: 77, first_name: "Grace" });
  for (const secret of [undefined, "wrong", `${SECRET}x`]) {
    const res = await post(server.url, update, secret);
    assert.equal(res.status, 401, `secret ${secret}`);
    assert.equal((await res.json()).error.code, "unauthorized");
  }

  const opToken = await server.staffToken("op-1");
  const op = await sockets.connect(server.wsUrl(opToken));
  const first = await post(server.url, update, SECRET);
  assert.equal(first.status, 200);
  assert.deepEqual(await first.json(), { ok: true, status: "stored" });
  const available = await op.next((f) => f.type === "new_chat_available");
  const chatId = String(available.payload.chat_id);

  // Telegram retries (its answer got lost): acknowledged, not stored again.
  const again = await post(server.url, update, SECRET);
  assert.deepEqual(await again.json(), { ok: true, status: "duplicate" });
  const events = await allEvents(server, chatId, opToken);
  const texts = events.filter((f) => f.type === "message").map((f) => f.payload.message);
  assert.deepEqual(texts, ["Hi via webhook"]);

  const edited = await post(server.url, { update_id: 501, edited_message: {} }, SECRET);
  assert.deepEqual(await edited.json(), { ok: true, status: "ignored" });
  const bad = await post(server.url, { message: { text: "no update id" } }, SECRET);
  assert.equal(bad.status, 400);
  assert.equal((await bad.json()).error.code, "invalid_payload");
  const notJson = await post(server.url, "{", SECRET);
  assert.equal((await notJson.json()).error.code, "bad_json");

  assert.equal((await op.request("accept_chat", { chat_id: chatId })).type, "ack");
  await op.request("message", { chat_id: chatId, text: "Hello Grace" });
  const reply = await fake.waitFor((c) => c.body.text === "Hello Grace");
  assert.equal(reply.body.chat_id, "77");
  assert.ok(fake.sentTo(77).includes(TEXTS.queued));
  assert.equal(fake.of("getUpdates").length, 0, "no polling in webhook mode");

  const doc = await (await fetch(`${server.url}/api/v1/chat/openapi.json`)).json();
  const op_ = doc.paths["/api/v1/chat/telegram/webhook"]?.post;
  assert.ok(op_, "the webhook is in the OpenAPI document");
  assert.deepEqual(op_.security, [{ telegramSecret: [] }]);
  assert.equal(doc.components.securitySchemes.telegramSecret.name, SECRET_HEADER);
});

Deno.test("Telegram webhook: not answered 200 when the update could not be stored now", async () => {
  await using kv = await Deno.openKv(":memory:");
  const failures: AppError[] = [new AppError("overloaded"), new AppError("invalid_state")];
  const app = new Hono();
  installErrorHandling(app, silentLogger);
  const api = newApi();
  webhookRoutes({
    inbound: { handle: () => Promise.reject(failures.shift()) },
    secret: SECRET,
    kv,
    keys: KEYS,
    log: silentLogger,
  })(api);
  app.route("/api/v1/chat", api);
  const send = () =>
    app.request("/api/v1/chat/telegram/webhook", {
      method: "POST",
      headers: { [SECRET_HEADER]: SECRET },
      body: JSON.stringify(textUpdate(9, "x")),
    });
  // Retryable: a 503 makes Telegram send the update again later.
  const busy = await send();
  assert.equal(busy.status, 503);
  assert.equal((await busy.json()).error.code, "overloaded");
  // Never storable: kept as a dead letter and acknowledged, so it does not block the bot.
  const dead = await send();
  assert.deepEqual(await dead.json(), { ok: true, status: "dead_lettered" });
  assert.ok((await kv.get(KEYS.dead("in", 9))).value);
});

Deno.test("Telegram: refused at start without a webhook secret, or a lease shorter than a poll", async () => {
  const start = (env: Record<string, string>) =>
    startTelegram(
      { config: loadConfig({ TELEGRAM_BOT_TOKEN: "test", ...env }) } as IntegrationContext,
    );
  await assert.rejects(start({ TELEGRAM_MODE: "webhook" }), /TELEGRAM_WEBHOOK_SECRET/);
  await assert.rejects(
    start({ TELEGRAM_POLL_TIMEOUT_S: "30", TELEGRAM_LEASE_S: "35" }),
    /TELEGRAM_LEASE_S/,
  );
  assert.throws(
    () => loadConfig({ TELEGRAM_WEBHOOK_SECRET: "has spaces" }),
    /TELEGRAM_WEBHOOK_SECRET/,
  );
  assert.equal(await startTelegram({ config: loadConfig({}) } as IntegrationContext), null);
});
