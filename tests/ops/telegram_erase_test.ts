/**
 * Erasing a Telegram user (a real server polling the local fake Bot API): their chats (a closed
 * one and an open one), the link of their Telegram chat, processed-update records, the outbox and
 * sent records of the replies — including the closing notice the erasure itself sends, which the
 * second look a minute later (on the clock) removes. Another Telegram user is untouched, and the
 * erased user's next message opens a fresh chat.
 */
import assert from "node:assert/strict";
import { TEXTS } from "../../src/integrations/telegram/_texts.ts";
import { lifecycleOf } from "../../src/ops/mod.ts";
import { LATE_MS } from "../../src/ops/jobs.ts";
import { ManualClock } from "../../src/runtime/clock.ts";
import { startTestServer } from "../integration/_harness.ts";
import { Sockets } from "../integration/_util.ts";
import { FakeTelegram, textUpdate } from "../integrations/_fake_telegram.ts";
import { api, dumpKv, kvOf, mentioning } from "./_lifecycle.ts";

const VIEW_MS = 250;
const ADA = { id: 4242424242, first_name: "Ada", username: "ada_erase_me" };
const BOB = { id: 5151515151, first_name: "Bob", username: "bob_stays" };

Deno.test("erase-client of a Telegram user: chats, link, update records and reply records go; the closing notice's records go a minute later", async () => {
  await using fake = FakeTelegram.start();
  const clock = new ManualClock(Date.now());
  await using server = await startTestServer({
    TELEGRAM_BOT_TOKEN: "test",
    TELEGRAM_API_URL: fake.url,
    TELEGRAM_POLL_TIMEOUT_S: "1",
    // The clock jumps a minute below: a long poll in flight must not time out on it (its retry
    // would wait on the manual clock, which then stands still).
    TELEGRAM_HTTP_TIMEOUT_MS: "600000",
    TELEGRAM_LEASE_S: "700",
    QUEUE_VIEW_MS: String(VIEW_MS),
  }, { clock });
  await using sockets = new Sockets();
  const op = await sockets.connect(server.wsUrl(await server.staffToken("op-1")));
  const admin = await server.staffToken("adm", "admin");

  const open = async (updateId: number, text: string, user: typeof ADA) => {
    const from = op.frames.length;
    fake.push(textUpdate(updateId, text, user));
    // Staff queue views go out at most once per VIEW_MS on the (manual) clock: once the update
    // is taken (the next poll asks past it), two intervals on, any view held back has gone out.
    await fake.polled(updateId + 1);
    await clock.advance(2 * VIEW_MS);
    const f = await op.next((f) => f.type === "new_chat_available", { from });
    const chatId = String(f.payload.chat_id);
    assert.equal((await op.request("accept_chat", { chat_id: chatId })).type, "ack");
    await fake.waitFor((c) => c.body.chat_id === String(user.id) && c.body.text === TEXTS.assigned);
    return chatId;
  };
  const first = await open(500, "My name is Ada, my phone is 555-0100", ADA);
  assert.equal((await op.request("message", { chat_id: first, text: "Hello Ada" })).type, "ack");
  await fake.waitFor((c) => c.body.text === "Hello Ada");
  assert.equal((await op.request("close_chat", { chat_id: first })).type, "ack");
  await fake.waitFor((c) => c.body.chat_id === String(ADA.id) && c.body.text === TEXTS.closed);
  const second = await open(501, "Ada again", ADA);
  const bobs = await open(502, "Bob here", BOB);
  await fake.polled(503);

  const kv = kvOf(server);
  const needles = [String(ADA.id), ADA.username, first, second];
  assert.ok(mentioning(await dumpKv(kv), needles).length > 10);

  const erased = await api(server, "POST", "admin/erase-client", admin, {
    client_id: `tg-${ADA.id}`,
    reason: "Telegram user asked",
  });
  assert.equal(erased.status, 200, JSON.stringify(erased.body));
  assert.equal(erased.body.chats, 2);
  assert.equal(erased.body.closed, 1);
  // The erasure closed the open chat through the normal path: Ada is told.
  const notices = () => fake.sentTo(ADA.id).filter((t) => t === TEXTS.closed).length;
  while (notices() < 2) await fake.waitFor((c) => c.body.text === TEXTS.closed);

  // What is left can only be the notice's own records and the second look's to-do.
  const left = mentioning(await dumpKv(kv), needles);
  const late = (l: string) => /^\["(tg","test","(out|sent|cur)|ops","late)",/.test(l);
  assert.ok(left.every(late), left.join("\n"));
  await clock.advance(LATE_MS + 1);
  await lifecycleOf(server.svc)!.agent.drain();
  assert.deepEqual(mentioning(await dumpKv(kv), needles), []);

  // Bob's chat is untouched; Ada's next message opens a new, empty chat.
  assert.ok(mentioning(await dumpKv(kv), [bobs]).length > 5);
  const fresh = await open(503, "Hello, it is me again", ADA);
  assert.notEqual(fresh, second);
  const h = await api(server, "GET", `chats/${fresh}/history?limit=50`, admin);
  const texts = h.body.events.filter((e: { type: string }) => e.type === "message")
    .map((e: { payload: { message: string } }) => e.payload.message);
  assert.deepEqual(texts, ["Hello, it is me again"]);
});
