/**
 * Statistics by range (issue 14): chats served over several days on a ManualClock (one server
 * per day on the same KV file, as a node that runs for days would store them), then
 * `GET /admin/stats/range` by day (in UTC and in Moscow time), per operator and per queue:
 * waits, first response, resolution, ratings and CSAT.
 */
import assert from "node:assert/strict";
import { ManualClock } from "../../src/runtime/clock.ts";
import { startTestServer, type TestServer, WsClient } from "./_harness.ts";
import { assertAck, say } from "./_routing_util.ts";
import { Sockets } from "./_util.ts";
import { apiGet, getOk, type Json } from "./_staff_util.ts";

const S = 1000;

interface Served {
  /** After the chat starts: accepted, first answer, closed (ms); the client's score. */
  accept: number;
  answer: number;
  close: number;
  score?: number;
}

/** One chat, start to rating, with the clock moved between the steps. */
async function serve(server: TestServer, clock: ManualClock, op: WsClient, s: Served) {
  const chat = await server.createChat();
  const client = await WsClient.connect(chat.ws_url);
  try {
    await clock.advance(s.accept);
    assertAck(await op.request("accept_chat", { chat_id: chat.chat_id }));
    await clock.advance(s.answer - s.accept);
    assertAck(await say(op, chat.chat_id, "Hello, how can I help?"));
    await clock.advance(s.close - s.answer);
    assertAck(await op.request("close_chat", { chat_id: chat.chat_id }));
    await clock.advance(S);
    if (s.score) assertAck(await client.request("rate", { score: s.score }));
  } finally {
    await client.close();
  }
}

/** A server on the shared KV file with its clock at `at`; `work` runs with staff sockets. */
async function day(
  kvPath: string,
  at: number,
  work: (server: TestServer, clock: ManualClock, ops: Record<string, WsClient>) => Promise<void>,
) {
  const clock = new ManualClock(at);
  // Few timers to fire while the clock moves (each fire lets pending work settle).
  const quiet = { PASSIVATE_AFTER_S: "0", HEARTBEAT_S: "3600" };
  await using server = await startTestServer(quiet, { clock, kvPath });
  await using sockets = new Sockets();
  const ops = {
    anna: await sockets.connect(server.wsUrl(await server.staffToken("op-1", "operator", "Anna"))),
    boris: await sockets.connect(server.wsUrl(await server.staffToken("op-2", "operator"))),
  };
  await work(server, clock, ops);
}

Deno.test("stats by range: per day (UTC and Moscow), per operator and per queue, with CSAT", async () => {
  const dir = await Deno.makeTempDir({ prefix: "chat-range-" });
  const kvPath = `${dir}/chat.kv`;
  try {
    // Monday 5 January 2026: two chats.
    await day(kvPath, Date.UTC(2026, 0, 5, 10, 0), async (server, clock, ops) => {
      await serve(server, clock, ops.anna, {
        accept: 20 * S,
        answer: 30 * S,
        close: 100 * S,
        score: 5,
      });
      await serve(server, clock, ops.boris, {
        accept: 50 * S,
        answer: 60 * S,
        close: 200 * S,
        score: 2,
      });
    });
    // Tuesday: one.
    await day(kvPath, Date.UTC(2026, 0, 6, 10, 0), async (server, clock, ops) => {
      await serve(server, clock, ops.anna, {
        accept: 10 * S,
        answer: 15 * S,
        close: 50 * S,
        score: 4,
      });
    });
    // Wednesday 22:30 UTC, already Thursday 01:30 in Moscow: a chat left while waiting.
    await day(kvPath, Date.UTC(2026, 0, 7, 22, 30), async (server) => {
      const chat = await server.createChat();
      const client = await WsClient.connect(chat.ws_url);
      assertAck(await client.request("close_chat", {}));
      await client.close();
    });

    const clock = new ManualClock(Date.UTC(2026, 0, 9, 12, 0));
    await using server = await startTestServer({}, { clock, kvPath });
    const admin = await server.staffToken("adm", "admin");
    const range = (q: string) => getOk(server, `admin/stats/range?${q}`, admin);

    const utc = await range("from=2026-01-05&to=2026-01-07");
    assert.deepEqual(
      [utc.tz, utc.group, utc.totals.chats_created, utc.totals.chats_closed, utc.totals.served],
      ["UTC", "day", 4, 4, 3],
    );
    const t = utc.totals;
    assert.equal(t.wait_avg_s, 26.7); // (20 + 50 + 10) / 3
    assert.deepEqual([t.first_responses, t.first_response_avg_s], [3, 35]); // (30 + 60 + 15) / 3
    assert.deepEqual([t.resolved, t.resolution_avg_s], [3, 116.7]); // (100 + 200 + 50) / 3
    assert.deepEqual([t.ratings, t.rating_avg, t.csat], [3, 3.7, 0.667]);
    assert.deepEqual(t.ratings_by_score, { "1": 0, "2": 1, "3": 0, "4": 1, "5": 1 });
    assert.deepEqual(
      utc.series.map((d: Json) => [d.key, d.chats_created, d.served, d.csat]),
      [["2026-01-05", 2, 2, 0.5], ["2026-01-06", 1, 1, 1], ["2026-01-07", 1, 0, null]],
    );

    // In Moscow time the last chat belongs to Thursday.
    const msk = await range("from=2026-01-05&to=2026-01-07&tz=Europe/Moscow");
    assert.equal(msk.totals.chats_created, 3);
    assert.deepEqual(msk.series.map((d: Json) => d.chats_created), [2, 1, 0]);
    const thursday = await range("from=2026-01-08&to=2026-01-08&tz=Europe/Moscow");
    assert.deepEqual([thursday.totals.chats_created, thursday.totals.chats_closed], [1, 1]);
    assert.equal(thursday.totals.resolved, 0); // closed while waiting: not resolved

    const byOp = await range("from=2026-01-05&to=2026-01-09&group=operator");
    const op = (id: string) => byOp.series.find((r: Json) => r.key === id);
    assert.deepEqual(
      [op("op-1").name, op("op-1").served, op("op-1").wait_avg_s, op("op-1").first_response_avg_s],
      ["Anna", 2, 15, 22.5],
    );
    assert.deepEqual(
      [op("op-1").resolution_avg_s, op("op-1").rating_avg, op("op-1").csat],
      [75, 4.5, 1],
    );
    assert.deepEqual([op("op-2").name, op("op-2").served, op("op-2").csat], [undefined, 1, 0]);
    assert.equal(byOp.series.length, 2);
    // Only the Tuesday: Boris did nothing then.
    const tuesday = await range("from=2026-01-06&to=2026-01-06&group=operator");
    assert.deepEqual(tuesday.series.map((r: Json) => r.key), ["op-1"]);

    const byQueue = await range("from=2026-01-01&to=2026-01-31&group=queue");
    assert.deepEqual(
      byQueue.series.map((r: Json) => [r.key, r.chats_created, r.ratings]),
      [["default", 4, 3]],
    );
    // Days without data are zeros; a range before any data is empty.
    const before = await range("from=2025-12-01&to=2025-12-02");
    assert.deepEqual(before.series.map((d: Json) => d.chats_created), [0, 0]);
    assert.equal(before.totals.csat, null);

    // Bounded and checked; admins only; the all-time statistics still answer.
    for (
      const bad of [
        "from=2026-01-07&to=2026-01-05",
        "from=2025-01-01&to=2026-01-02",
        "from=2026-02-30&to=2026-03-01",
        "from=2026-01-05&to=2026-01-06&tz=Mars/Olympus",
        "from=2026-01-05&to=2026-01-06&group=week",
        "to=2026-01-06",
      ]
    ) {
      assert.equal((await apiGet(server, `admin/stats/range?${bad}`, admin)).status, 400, bad);
    }
    const op1 = await server.staffToken("op-1");
    assert.equal(
      (await apiGet(server, "admin/stats/range?from=2026-01-05&to=2026-01-06", op1)).status,
      403,
    );
    assert.equal((await getOk(server, "admin/stats", admin)).chats_created, 4);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
