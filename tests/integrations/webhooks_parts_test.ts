/** The webhook engine's parts on their own: signatures, ids, event mapping, backoff, Retry-After. */
import assert from "node:assert/strict";
import { backoffMs, retryAfterMs } from "../../src/integrations/webhooks/attempt.ts";
import { deliveryId, webhookEvent } from "../../src/integrations/webhooks/events.ts";
import { newSecret, signBody, verifySignature } from "../../src/integrations/webhooks/sign.ts";

Deno.test("signBody is HMAC-SHA256 of the raw body (RFC 4231 case 2), and verify checks it", async () => {
  const sig = await signBody("Jefe", "what do ya want for nothing?");
  assert.equal(sig, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  assert.ok(await verifySignature("Jefe", "what do ya want for nothing?", sig));
  assert.ok(!(await verifySignature("Jefe", "what do ya want for nothing!", sig)), "body changed");
  assert.ok(!(await verifySignature("jefe", "what do ya want for nothing?", sig)), "wrong key");
  assert.ok(!(await verifySignature("Jefe", "what do ya want for nothing?", null)));
  assert.ok(!(await verifySignature("Jefe", "what do ya want for nothing?", sig.slice(0, -1))));
  assert.notEqual(newSecret(), newSecret());
  assert.match(newSecret(), /^whsec_[0-9a-f]{64}$/);
});

Deno.test("deliveryId is the same for the same (subscription, chat, seq) and differs otherwise", async () => {
  const id = await deliveryId("wh_1", "chat-1", 5);
  assert.match(id, /^whd_[0-9a-f]{32}$/);
  assert.equal(await deliveryId("wh_1", "chat-1", 5), id);
  const others = await Promise.all([
    deliveryId("wh_2", "chat-1", 5),
    deliveryId("wh_1", "chat-2", 5),
    deliveryId("wh_1", "chat-1", 6),
  ]);
  assert.equal(new Set([id, ...others]).size, 4);
});

Deno.test("webhookEvent maps the six chat events and ignores the rest", () => {
  const at = 1;
  const by = { byId: "op-1", byRole: "operator" } as const;
  assert.equal(
    webhookEvent({ type: "assigned", operatorId: "op-1", reason: "accept", at })?.type,
    "chat.assigned",
  );
  assert.deepEqual(
    webhookEvent({
      type: "bot_message",
      intent: "greet",
      confidence: 0.9,
      text: "Hello!",
      quickReplies: ["Human"],
      at,
    }),
    {
      type: "chat.message",
      data: {
        sender_id: "bot",
        sender_role: "bot",
        text: "Hello!",
        intent: "greet",
        confidence: 0.9,
        quick_replies: ["Human"],
      },
    },
  );
  assert.deepEqual(webhookEvent({ type: "closed", ...by, reason: "done", at }), {
    type: "chat.closed",
    data: { by_id: "op-1", by_role: "operator", reason: "done" },
  });
  assert.deepEqual(webhookEvent({ type: "rated", score: 4, comment: "ok", at }), {
    type: "chat.rated",
    data: { score: 4, comment: "ok" },
  });
  assert.deepEqual(
    webhookEvent({ type: "transferred", from: "op-1", to: null, reason: "offline", ...by, at }),
    {
      type: "chat.transferred",
      data: {
        from_operator_id: "op-1",
        to_operator_id: null,
        to_queue: true,
        reason: "offline",
        by_id: "op-1",
        by_role: "operator",
      },
    },
  );
  for (
    const e of [
      { type: "queued", at },
      { type: "read", participantId: "x", seq: 1 },
      { type: "titled", title: "t", at },
      { type: "escalated", reason: "r", at },
    ] as const
  ) assert.equal(webhookEvent(e), null, e.type);
});

Deno.test("backoff doubles from the base, is capped, and jitters between 50 and 100 %", () => {
  const top = () => 1;
  const bottom = () => 0;
  assert.deepEqual([1, 2, 3, 4, 5, 6].map((n) => backoffMs(n, 1_000, 10_000, top)), [
    1_000,
    2_000,
    4_000,
    8_000,
    10_000,
    10_000,
  ]);
  assert.equal(backoffMs(3, 1_000, 10_000, bottom), 2_000);
  for (let i = 0; i < 100; i++) {
    const d = backoffMs(4, 1_000, 10_000, Math.random);
    assert.ok(d >= 4_000 && d <= 8_000, `${d}`);
  }
});

Deno.test("Retry-After is read as seconds or as an HTTP date", () => {
  const now = Date.UTC(2026, 0, 1, 12, 0, 0);
  assert.equal(retryAfterMs("120", now), 120_000);
  assert.equal(retryAfterMs(" 0 ", now), 0);
  assert.equal(retryAfterMs(new Date(now + 30_000).toUTCString(), now), 30_000);
  assert.equal(retryAfterMs(new Date(now - 30_000).toUTCString(), now), 0, "a past date: now");
  assert.equal(retryAfterMs("soon", now), null);
  assert.equal(retryAfterMs(null, now), null);
});
