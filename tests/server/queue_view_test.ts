/**
 * Staff queue views (src/server/queue_view.ts, _queue_view_diff.ts): the frames between two views
 * rebuild the next view from the previous one, for delta and legacy connections alike; and a
 * burst of arrivals and claims costs each connection a bounded number of frames per interval
 * on the injected clock, whatever the rate.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { queueEntity, type QueueEvent, type QueueState } from "../../actors/mod.ts";
import { ManualClock } from "../../src/runtime/clock.ts";
import type { Envelope } from "../../src/runtime/entity.ts";
import type { OutboundFrame } from "../../src/protocol/mod.ts";
import { type Connection, Hub } from "../../src/server/hub.ts";
import { QueueViews, QueueViewSource } from "../../src/server/queue_view.ts";
import {
  applyDelta,
  type HeadEntry,
  LEGACY_FRAMES_PER_VIEW,
  type QueueView,
  type ViewBase,
  viewFrames,
} from "../../src/server/_queue_view_diff.ts";

const TS = "2026-01-01T00:00:00.000Z";
const entry = (id: string, priority = 0): HeadEntry => ({
  chat_id: id,
  client_id: `u-${id}`,
  priority,
  waiting_since: TS,
});

/** What a legacy client does with the frames: snapshot replaces, the others edit. */
function applyLegacy(head: HeadEntry[], frames: OutboundFrame[]): HeadEntry[] {
  let list = [...head];
  for (const f of frames) {
    const p = f.payload as Record<string, unknown>;
    if (f.type === "queue_snapshot") list = [...p.chats as HeadEntry[]];
    else if (f.type === "chat_removed") list = list.filter((e) => e.chat_id !== p.chat_id);
    else if (f.type === "new_chat_available") {
      const { position, ...e } = p as unknown as HeadEntry & { position: number };
      list = list.filter((x) => x.chat_id !== e.chat_id);
      list.splice(position - 1, 0, e);
    }
  }
  return list;
}

const view = (head: HeadEntry[], total = head.length): QueueView => ({
  queue: "q",
  headSize: 8,
  total,
  active: 0,
  head,
  gone: [],
  rate: null,
});

Deno.test("queue view frames: delta and legacy frames rebuild the next head from the last (seeded)", () => {
  const ids = "abcdefghijkl".split("");
  const head = fc.uniqueArray(fc.constantFrom(...ids), { maxLength: 8 })
    .chain((list) =>
      fc.tuple(fc.constant(list), fc.array(fc.nat(2), { minLength: list.length, maxLength: 12 }))
    )
    .map(([list, prios]) => list.map((id, i) => entry(id, prios[i])));
  fc.assert(
    fc.property(head, head, fc.nat(50), (prev, next, extra) => {
      const before: ViewBase = { total: prev.length, active: 0, head: prev };
      const { delta, legacy } = viewFrames(before, view(next, next.length + extra));
      const unchanged = JSON.stringify(prev) === JSON.stringify(next) && extra === 0;
      assert.equal(delta === null, unchanged);
      if (delta) {
        const p = delta.payload as Parameters<typeof applyDelta>[1];
        assert.deepEqual(applyDelta(prev, p), next);
      }
      assert.deepEqual(applyLegacy(prev, legacy), next);
      assert.ok(legacy.length <= LEGACY_FRAMES_PER_VIEW, `${legacy.length} legacy frames`);
    }),
    { seed: 2613, numRuns: 500 },
  );
});

Deno.test("queue view frames: a chat leaving the head says why, if the queue knows", () => {
  const before: ViewBase = { total: 3, active: 0, head: [entry("a"), entry("b"), entry("c")] };
  const next = {
    ...view([entry("c"), entry("d")], 5),
    gone: [{ chat_id: "a", reason: "assigned" as const, operator_id: "op-1" }],
  };
  const { delta, legacy } = viewFrames(before, next);
  assert.deepEqual((delta!.payload as { removed: unknown }).removed, [
    { chat_id: "a", reason: "assigned", operator_id: "op-1" },
    { chat_id: "b", reason: "moved" },
  ]);
  // Three changes are more than two legacy frames say: the head whole instead.
  assert.deepEqual(legacy.map((f) => f.type), ["queue_snapshot"]);
});

/** Fake staff connections that record what they were sent. */
function staff(hub: Hub, id: string): OutboundFrame[] {
  const got: OutboundFrame[] = [];
  const conn: Connection = {
    id,
    principal: { id, role: "operator", scope: "staff", expiresAt: Infinity } as never,
    tokenKey: id,
    send: (f) => void got.push(f),
    close: () => {},
  };
  hub.add(conn);
  return got;
}

Deno.test("queue views: 1,000 arrivals and 500 claims in 2 s cost each operator a few frames per interval", async () => {
  const clock = new ManualClock();
  const hub = new Hub(() => Promise.resolve([]));
  let state: QueueState = queueEntity.initialState("q");
  const settings = { queue: "q", headSize: 20, intervalMs: 250 };
  const views = new QueueViews(settings, hub);
  const source = new QueueViewSource(settings, clock, () => state, (v) => views.apply(v));
  let seq = 0;
  const run = (cmd: Parameters<typeof queueEntity.decide>[1]) => {
    const d = queueEntity.decide(state, cmd, { id: "q", now: clock.now(), nextSeq: seq + 1 });
    assert.ok(d.ok, cmd.type);
    const envs: Envelope<QueueEvent>[] = d.events.map((event) => ({
      seq: ++seq,
      at: clock.now(),
      event,
    }));
    for (const e of d.events) state = queueEntity.evolve(state, e);
    source.onCommit(envs);
  };
  run({ type: "operator_online", operatorId: "op-1", role: "operator" });
  run({ type: "set_capacity", operatorId: "op-1", capacity: 1000, by: { id: "a", role: "admin" } });
  const delta = staff(hub, "d");
  const legacy = staff(hub, "l");
  hub.watchQueue("d", true, { total: 0, active: 0, head: [] });
  hub.watchQueue("l", false, { total: 0, active: 0, head: [] });

  // 1,000 arrivals over 1 s (ten every 10 ms), then 500 claims over the next second.
  for (let i = 0; i < 1000; i++) {
    run({
      type: "enqueue",
      chatId: `c${i}`,
      clientId: `u${i}`,
      priority: 0,
      enqueuedAt: clock.now(),
    });
    if (i % 10 === 9) await clock.advance(10);
  }
  const afterArrivals = { views: views.views, delta: delta.length, legacy: legacy.length };
  assert.ok(afterArrivals.views <= 5, `${afterArrivals.views} views for the arrivals`);
  for (let i = 0; i < 500; i++) {
    run({ type: "claim", chatId: `c${i}`, operatorId: "op-1" });
    if (i % 5 === 4) await clock.advance(10);
  }
  await clock.advance(250);
  // At most one view per 250 ms, plus the one an idle queue sends at once: 9 over 2 s.
  assert.ok(views.views <= 10, `${views.views} views`);
  assert.ok(delta.length <= views.views, `${delta.length} delta frames`);
  assert.ok(legacy.length <= LEGACY_FRAMES_PER_VIEW * views.views, `${legacy.length} legacy`);
  assert.ok(delta.every((f) => f.type === "queue_delta"));

  // Both connections hold the true head and counts at the end.
  const want = state.waitingOrder.size;
  let dHead: HeadEntry[] = [];
  let dTotal = 0;
  for (const f of delta) {
    const p = f.payload as Parameters<typeof applyDelta>[1] & { total: number };
    dHead = applyDelta(dHead, p);
    dTotal = p.total;
  }
  const ids = (h: HeadEntry[]) => h.map((e) => e.chat_id);
  const wantIds = Array.from({ length: 20 }, (_, i) => `c${500 + i}`);
  assert.deepEqual([ids(dHead), dTotal], [wantIds, want]);
  assert.deepEqual(ids(applyLegacy([], legacy)), wantIds);
  source.stop();
});
