import assert from "node:assert/strict";
import type { SessionEvent, SessionView } from "../../actors/session.ts";
import { TEXTS } from "../../src/integrations/telegram/_texts.ts";
import { TelegramApi } from "../../src/integrations/telegram/api.ts";
import { Outbound, type OutboundOptions } from "../../src/integrations/telegram/outbound.ts";
import { silentLogger } from "../../src/log.ts";
import { ManualClock } from "../../src/runtime/clock.ts";
import type { ChatEventNotice } from "../../src/server/chat_service.ts";
import { FakeTelegram, rateLimited, serverError } from "./_fake_telegram.ts";
import { KEYS, untilKv, Waits } from "./_telegram_util.ts";

const T0 = Date.UTC(2026, 0, 1);

function rig(fake: FakeTelegram, kv: Deno.Kv, clock: ManualClock, o: Partial<{
  node: string;
  perChatMax: number;
  maxAttempts: number;
  httpTimeoutMs: number;
  channelOf: OutboundOptions["channelOf"];
}> = {}) {
  const waits = new Waits();
  const api = new TelegramApi({
    baseUrl: fake.url,
    token: "test",
    timeoutMs: o.httpTimeoutMs ?? 5000,
    clock,
  });
  const out = new Outbound({
    api,
    kv,
    keys: KEYS,
    clock,
    log: silentLogger,
    retryBaseMs: 1000,
    maxAttempts: o.maxAttempts ?? 5,
    node: o.node ?? "node-a",
    perChatMax: o.perChatMax ?? 100,
    onWait: waits.hook,
    ...(o.channelOf ? { channelOf: o.channelOf } : {}),
  });
  return { out, waits };
}

let seq = 0;
/** A stored event of a Telegram chat `chatId` (Telegram chat `ref`). */
function notice(chatId: string, ref: string, event: SessionEvent): ChatEventNotice {
  const view = {
    chatId,
    channel: { kind: "telegram", ref, name: "Ada" },
  } as unknown as SessionView;
  return { chatId, seq: ++seq, at: T0, event, view };
}

const staff = (text: string): SessionEvent => ({
  type: "message",
  senderId: "op-1",
  senderRole: "operator",
  text,
  at: T0,
});

const outboxSize = async (kv: Deno.Kv) =>
  (await Array.fromAsync(kv.list({ prefix: KEYS.outbox }))).length;

Deno.test("Outbound: staff replies and notices reach the Telegram chat in order; no echo", async () => {
  await using fake = FakeTelegram.start();
  await using kv = await Deno.openKv(":memory:");
  const { out } = rig(fake, kv, new ManualClock());
  const events: SessionEvent[] = [
    { type: "queued", at: T0 },
    { type: "message", senderId: "tg-42", senderRole: "client", text: "help", at: T0 },
    { type: "assigned", operatorId: "op-1", reason: "accept", at: T0 },
    staff("Hello Ada"),
    { type: "closed", byId: "op-1", byRole: "operator", reason: null, at: T0 },
  ];
  for (const e of events) out.onEvent(notice("c1", "42", e));
  // A web chat's events are not this integration's business.
  const web = { chatId: "w1", channel: { kind: "web" } } as unknown as SessionView;
  out.onEvent({ chatId: "w1", seq: 1, at: T0, event: staff("web"), view: web });
  await fake.nth("sendMessage", 4);
  await untilKv(kv, KEYS.out("c1", seq, 0), (v) => v === null); // the close notice is done
  await out.stop();
  assert.deepEqual(fake.sentTo(42), [TEXTS.queued, TEXTS.assigned, "Hello Ada", TEXTS.closed]);
  assert.equal(fake.of("sendMessage").length, 4);
  assert.equal(await outboxSize(kv), 0, "delivered items leave the outbox");
});

Deno.test("Outbound: a 429 waits retry_after for that chat only; its order is kept", async () => {
  await using fake = FakeTelegram.start();
  await using kv = await Deno.openKv(":memory:");
  const clock = new ManualClock();
  const { out, waits } = rig(fake, kv, clock);
  fake.script("sendMessage", rateLimited(5));
  out.onEvent(notice("c1", "1", staff("one")));
  out.onEvent(notice("c1", "1", staff("two")));
  const wait = await waits.next("sendMessage");
  assert.equal(wait.ms, 5000);
  out.onEvent(notice("c2", "2", staff("other chat")));
  await fake.waitFor((c) => c.body.chat_id === "2");
  await clock.advance(4999);
  assert.deepEqual(fake.sentTo(1), ["one"], "only the refused attempt so far");
  await clock.advance(1);
  await fake.waitFor((c) => c.body.text === "two");
  await out.stop();
  assert.deepEqual(fake.sentTo(1), ["one", "one", "two"]);
});

Deno.test("Outbound: 500 backs off, a timeout is retried, then the reply is delivered", async () => {
  await using fake = FakeTelegram.start();
  await using kv = await Deno.openKv(":memory:");
  const clock = new ManualClock();
  const { out, waits } = rig(fake, kv, clock, { httpTimeoutMs: 150 });
  fake.script("sendMessage", serverError, "hang");
  out.onEvent(notice("c1", "7", staff("persistent")));
  assert.equal((await waits.next("sendMessage")).ms, 1000);
  await clock.advance(1000);
  await fake.nth("sendMessage", 2);
  await clock.advance(150); // the HTTP timeout, on the injected clock
  const second = await waits.next("sendMessage"); // the hung call timed out
  assert.equal(second.ms, 2000);
  assert.match(String(second.error), /timeout/);
  await clock.advance(2000);
  await fake.nth("sendMessage", 3);
  await untilKv(kv, KEYS.out("c1", seq, 0), (v) => v === null);
  await out.stop();
  assert.equal(fake.sentTo(7).length, 3);
});

Deno.test("Outbound: a 403 (bot blocked) is dead-lettered at once; 5xx after max attempts", async () => {
  await using fake = FakeTelegram.start();
  await using kv = await Deno.openKv(":memory:");
  const clock = new ManualClock();
  const { out, waits } = rig(fake, kv, clock, { maxAttempts: 2 });
  const blocked = {
    ok: false,
    error_code: 403,
    description: "Forbidden: bot was blocked by the user",
  };
  fake.script("sendMessage", { status: 403, body: blocked }, serverError, serverError);
  out.onEvent(notice("c1", "1", staff("blocked")));
  const first = seq;
  await untilKv(kv, KEYS.dead("out", "c1", first, 0), (v) => v !== null);
  assert.equal(waits.seen.length, 0, "no retry for a 4xx");

  out.onEvent(notice("c2", "2", staff("flaky")));
  await waits.next("sendMessage");
  await clock.advance(1000);
  const dead = await untilKv<{ error: string }>(kv, KEYS.dead("out", "c2", seq, 0), (v) => !!v);
  assert.match(dead!.error, /500/);
  await out.stop();
  assert.equal(await outboxSize(kv), 0);
});

Deno.test("Outbound: a stop keeps undelivered replies in the outbox; the next start sends them", async () => {
  await using fake = FakeTelegram.start();
  await using kv = await Deno.openKv(":memory:");
  const clock = new ManualClock();
  const first = rig(fake, kv, clock);
  fake.script("sendMessage", rateLimited(30));
  first.out.onEvent(notice("c1", "5", staff("before the restart")));
  first.out.onEvent(notice("c1", "5", staff("and another")));
  await first.waits.next("sendMessage");
  await first.out.stop();
  assert.equal(await outboxSize(kv), 2);

  const other = rig(fake, kv, clock, { node: "node-b" });
  assert.equal(await other.out.resume(), 0, "another node's outbox is not its own");
  const again = rig(fake, kv, clock);
  assert.equal(await again.out.resume(), 2);
  await fake.waitFor((c) => c.body.text === "and another");
  await untilKv(kv, KEYS.out("c1", seq, 0), (v) => v === null);
  await again.out.stop();
  await other.out.stop();
  assert.deepEqual(fake.sentTo(5), ["before the restart", "before the restart", "and another"]);
  assert.equal(await outboxSize(kv), 0);
});

Deno.test("Outbound: a chat's queue is bounded; the overflow is dead-lettered", async () => {
  await using fake = FakeTelegram.start();
  await using kv = await Deno.openKv(":memory:");
  const clock = new ManualClock();
  const { out, waits } = rig(fake, kv, clock, { perChatMax: 2 });
  fake.script("sendMessage", rateLimited(60));
  out.onEvent(notice("c1", "9", staff("a")));
  out.onEvent(notice("c1", "9", staff("b")));
  out.onEvent(notice("c1", "9", staff("c")));
  const overflow = seq;
  await untilKv(kv, KEYS.dead("out", "c1", overflow, 0), (v) => v !== null);
  assert.equal(out.pending, 2);
  await waits.next("sendMessage");
  await clock.advance(60_000);
  await fake.waitFor((c) => c.body.text === "b");
  await out.stop();
  assert.deepEqual(fake.sentTo(9), ["a", "a", "b"]);
});

Deno.test("Outbound: a long reply is split; bot quick replies become a keyboard", async () => {
  await using fake = FakeTelegram.start();
  await using kv = await Deno.openKv(":memory:");
  const { out } = rig(fake, kv, new ManualClock());
  const long = `${"x".repeat(4000)}\n${"y".repeat(200)}`;
  out.onEvent(notice("c1", "3", staff(long)));
  out.onEvent(notice("c1", "3", {
    type: "bot_message",
    intent: "hours",
    confidence: 0.9,
    text: "We are open 9-17.",
    quickReplies: ["Thanks", "Talk to a human"],
    at: T0,
  }));
  const bot = await fake.waitFor((c) => c.body.text === "We are open 9-17.");
  await out.stop();
  assert.deepEqual(fake.sentTo(3).slice(0, 2), ["x".repeat(4000), "y".repeat(200)]);
  const markup = bot.body.reply_markup as { keyboard: Array<Array<{ text: string }>> };
  assert.deepEqual(markup.keyboard, [[{ text: "Thanks" }], [{ text: "Talk to a human" }]]);
});

Deno.test("Outbound: a reply pushed while the chat's last item settles is sent once", async () => {
  await using fake = FakeTelegram.start();
  await using kv = await Deno.openKv(":memory:");
  // The next reply arrives just as "one" (sent) is being settled in KV: it must join that chat's
  // queue, not start a second sender on it (which sent it twice).
  let next: (() => void) | null = null;
  const settling = new Proxy(kv, {
    get(target, p) {
      if (p === "atomic") {
        return () => {
          const op = target.atomic();
          const commit = op.commit.bind(op);
          op.commit = () => {
            const push = next;
            next = null;
            push?.();
            return commit();
          };
          return op;
        };
      }
      const v = Reflect.get(target, p);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  const { out } = rig(fake, settling, new ManualClock());
  next = () => out.onEvent(notice("c1", "42", staff("two")));
  const two = seq + 2; // "one" takes the next seq
  out.onEvent(notice("c1", "42", staff("one")));
  await untilKv(kv, KEYS.sent("c1", two, 0), (v) => v !== null);
  assert.equal(next, null, "the reply came while one was settling");
  await out.stop();
  assert.deepEqual(fake.sentTo(42), ["one", "two"]);
});

Deno.test("Outbound: late events (the catch-up's take) are sent unless queued or sent before", async () => {
  await using fake = FakeTelegram.start();
  await using kv = await Deno.openKv(":memory:");
  const { out } = rig(fake, kv, new ManualClock(), {
    channelOf: (chatId) =>
      Promise.resolve(chatId === "c1" ? { kind: "telegram", ref: "42" } : { kind: "web" }),
  });
  const sent = notice("c1", "42", staff("already sent"));
  out.onEvent(sent);
  await untilKv(kv, KEYS.sent("c1", sent.seq, 0), (v) => v !== null);

  const late = notice("c1", "42", staff("late"));
  const web = { ...notice("w1", "", staff("web")), chatId: "w1" };
  const client = notice("c1", "42", {
    type: "message",
    senderId: "tg-42",
    senderRole: "client",
    text: "mine",
    at: T0,
  });
  assert.equal(await out.takeLate([sent, late, web, client]), 1, "only the late staff reply");
  assert.equal(await out.takeLate([late]), 0, "in the outbox already: not queued twice");
  await untilKv(kv, KEYS.sent("c1", late.seq, 0), (v) => v !== null);
  await out.stop();
  assert.deepEqual(fake.sentTo(42), ["already sent", "late"]);
});
