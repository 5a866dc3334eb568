import assert from "node:assert/strict";
import { ManualClock } from "../../src/runtime/clock.ts";
import { startTestServer, type TestServer } from "./_harness.ts";
import { accept, assertAck, connectStaff, isFrame, say } from "./_routing_util.ts";
import { Sockets } from "./_util.ts";

type Stats = Awaited<ReturnType<TestServer["routing"]["stats"]>>;

/** What must survive a restart (live connection counts do not). */
const durable = (s: Stats) => ({
  messages_total: s.messages_total,
  chats_created: s.chats_created,
  chats_closed: s.chats_closed,
  queue_length: s.queue_length,
  active_chats: s.active_chats,
  served: s.served,
  wait_avg_s: s.wait_avg_s,
  wait_p90_s: s.wait_p90_s,
  peak_connections: s.peak_connections,
  operators: s.operators,
});

Deno.test("statistics are the same after a restart on the same KV file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "chat-stats-" });
  const kvPath = `${dir}/chat.kv`;
  try {
    const clock = new ManualClock();
    let before: Stats;
    {
      await using server = await startTestServer({}, { kvPath, clock });
      await using sockets = new Sockets();
      const op = await connectStaff(server, sockets, "op-1");
      const a = await server.createChat("alice");
      await clock.advance(10_000);
      const b = await server.createChat("bob");
      const ca = await sockets.connect(a.ws_url);
      const cb = await sockets.connect(b.ws_url);
      await clock.advance(10_000);
      // Waits: 20 s and 10 s.
      assertAck(await accept(op, a.chat_id));
      assertAck(await accept(op, b.chat_id));
      await Promise.all([ca, cb].map((c) => c.next(isFrame("chat_assigned"))));
      assertAck(await ca.request("message", { text: "hello" }));
      assertAck(await cb.request("message", { text: "hi" }));
      // First responses: 4 s and 9 s after the assignment.
      await clock.advance(4_000);
      assertAck(await say(op, a.chat_id, "how can I help?"));
      await clock.advance(5_000);
      assertAck(await say(op, b.chat_id, "hello bob"));
      assertAck(await say(op, a.chat_id, "anything else?"));
      assertAck(await ca.request("close_chat", { reason: "solved" }));
      assertAck(await ca.request("rate", { score: 4 }));

      before = await server.routing.stats();
      assert.equal(before.messages_total, 5);
      assert.equal(before.chats_created, 2);
      assert.equal(before.chats_closed, 1);
      assert.equal(before.queue_length, 0);
      assert.equal(before.active_chats, 1);
      assert.equal(before.served, 2);
      assert.equal(before.wait_avg_s, 15);
      const op1 = before.operators["op-1"];
      assert.equal(op1.chats_handled, 1);
      assert.equal(op1.chats_assigned, 2);
      assert.equal(op1.rating_avg, 4);
      assert.equal(op1.ratings, 1);
      assert.equal(op1.first_response_avg_s, 6.5);
      assert.equal(op1.resolution_avg_s, 9);
      assert.equal(before.peak_connections, 3);
      // Leaving the block closes the sockets, then shuts the server down.
    }

    await using again = await startTestServer({}, { kvPath, clock: new ManualClock(clock.now()) });
    const after = await again.routing.stats();
    assert.deepEqual(durable(after), durable(before));
    assert.equal(after.connections_total, 0);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
