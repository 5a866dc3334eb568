/**
 * The audit feed on its own (a KV in memory, a recorded producer, a manual clock): every audit
 * record reaches `chat.audit` at least once, late commits inside the look-back included; a new
 * publisher re-sends only the window; a fenced cursor write leaves the cursor alone; a node that
 * is not the publisher sends nothing. And on a three-node cluster: real actions' records arrive,
 * and after the publisher dies another node carries on.
 */
import assert from "node:assert/strict";
import { type AuditRecord, auditWrites } from "../../actors/_audit.ts";
import { AUDIT_CURSOR_KEY, AuditFeed } from "../../src/cluster/audit_feed.ts";
import { TOPICS } from "../../src/cluster/topics.ts";
import type { OutRecord } from "../../src/cluster/broker.ts";
import { silentLogger } from "../../src/log.ts";
import { ManualClock } from "../../src/runtime/clock.ts";
import type { KvCheck } from "../../src/runtime/committer.ts";
import { Sockets } from "../integration/_util.ts";
import { startCluster } from "./_cluster.ts";

const T0 = Date.UTC(2026, 0, 1);

async function store(kv: Deno.Kv, at: number, source: string, chat = "chat-1") {
  const record: AuditRecord = {
    at,
    action: "assigned",
    actor: { id: "op-1", role: "operator" },
    chat_id: chat,
    operator_ids: ["op-1"],
    reason: "test",
    source,
  };
  const op = kv.atomic();
  for (const w of auditWrites(record)) if (w.op === "set") op.set(w.key, w.value);
  assert.ok((await op.commit()).ok);
}

function feedOn(kv: Deno.Kv, opts: { fence?: () => KvCheck[] | null } = {}) {
  const sent: OutRecord[] = [];
  const clock = new ManualClock(T0);
  const feed = new AuditFeed({
    kv,
    clock,
    log: silentLogger,
    produce: (records) => (sent.push(...records), Promise.resolve()),
    fence: opts.fence ?? (() => []),
    everyMs: 1000,
    lookbackMs: 10_000,
  });
  const sources = () => sent.map((r) => (JSON.parse(r.value) as AuditRecord).source);
  return { feed, sent, clock, sources };
}

Deno.test("audit feed: each record once per publisher, late commits in the window too, then the cursor", async () => {
  await using kv = await Deno.openKv(":memory:");
  const { feed, sent, sources } = feedOn(kv);
  await store(kv, T0 + 1000, "session/a#1");
  await store(kv, T0 + 2000, "session/a#2");
  assert.equal(await feed.poll(), 2);
  assert.equal(await feed.poll(), 0, "nothing new: nothing sent again");
  // Committed after the cursor passed its time (decided earlier, or another node's clock).
  await store(kv, T0 + 1500, "queue/main#7");
  await store(kv, T0 + 30_000, "session/b#1", "chat-2");
  assert.equal(await feed.poll(), 2);
  assert.deepEqual(sources(), ["session/a#1", "session/a#2", "queue/main#7", "session/b#1"]);
  assert.deepEqual(sent.map((r) => r.key), ["chat-1", "chat-1", "chat-1", "chat-2"]);
  assert.equal((await kv.get<{ at: number }>(AUDIT_CURSOR_KEY)).value?.at, T0 + 30_000);

  // A new publisher (restart, or partition 0 moved) re-sends the look-back window only.
  const next = feedOn(kv);
  await store(kv, T0 + 31_000, "session/b#2", "chat-2");
  assert.equal(await next.feed.poll(), 2);
  assert.deepEqual(next.sources(), ["session/b#1", "session/b#2"]);
});

Deno.test("audit feed: a node that is not the publisher sends nothing; a fenced one cannot move the cursor", async () => {
  await using kv = await Deno.openKv(":memory:");
  await store(kv, T0 + 1000, "session/a#1");
  const idle = feedOn(kv, { fence: () => null });
  assert.equal(await idle.feed.poll(), 0);
  assert.equal(idle.sent.length, 0);

  const ownerKey: Deno.KvKey = ["cluster", "owner", 0];
  await kv.set(ownerKey, { node: "other", epoch: 2 });
  const stale = feedOn(kv, {
    fence: () => [{ key: ownerKey, versionstamp: "00000000000000000001" }],
  });
  await stale.feed.poll();
  assert.equal((await kv.get(AUDIT_CURSOR_KEY)).versionstamp, null, "cursor not written");
});

Deno.test("audit feed: more records than one page go out in one look; the timer runs it on the clock", async () => {
  await using kv = await Deno.openKv(":memory:");
  for (let i = 0; i < 1200; i += 100) {
    const op = kv.atomic();
    for (let k = i; k < i + 100; k++) {
      const record = {
        at: T0 + k,
        action: "offered",
        actor: { id: "system", role: "system" },
        operator_ids: [],
        reason: "",
        source: `queue/main#${k}`,
      };
      op.set(["audit", "all", record.at, record.source], record);
    }
    await op.commit();
  }
  const { feed, sent, clock } = feedOn(kv);
  feed.start();
  await clock.advance(1000);
  await feed.stop();
  assert.equal(sent.length, 1200);
  assert.equal(new Set(sent.map((r) => r.value)).size, 1200);
  assert.equal(sent[0].key, "queue/main#0", "no chat: keyed by its source");
});

Deno.test("cluster: audit records of real actions reach chat.audit, and do after the publisher dies", async () => {
  await using c = await startCluster(3, { ASK_TIMEOUT_MS: "1500", AUDIT_FEED_MS: "3600000" });
  await using sockets = new Sockets();
  const got = new Map<string, AuditRecord>();
  const reader = c.broker.connect();
  await reader.consume({
    groupId: "analytics",
    topics: [TOPICS.audit],
    fromBeginning: true,
    onMessage: (r) => {
      const rec = JSON.parse(r.value) as AuditRecord;
      got.set(rec.source, rec);
    },
  });
  const dead = new Set<unknown>();
  const publisher = () => c.nodes.find((n) => !dead.has(n) && n.cluster?.ownership.owns(0))!;
  const stored = async () => {
    const out: string[] = [];
    for await (
      const e of c.nodes[0].svc.system.journal.kv.list<AuditRecord>({ prefix: ["audit", "all"] })
    ) {
      out.push(e.value.source);
    }
    return out;
  };
  const acceptOne = async (via: number, opId: string) => {
    const node = c.nodes[via];
    const chat = await node.createChat(`client-${opId}`);
    const op = await sockets.connect(node.wsUrl(await node.staffToken(opId)));
    const assigned = op.next((f) =>
      f.type === "chat_assigned" && f.payload.chat_id === chat.chat_id
    );
    const ack = await op.request("accept_chat", { chat_id: chat.chat_id });
    assert.equal(ack.type, "ack", JSON.stringify(ack));
    await assigned;
  };

  const first = publisher();
  await acceptOne(first === c.nodes[0] ? 1 : 0, "op-a");
  await first.cluster!.auditFeed.poll();
  await c.broker.idle();
  const before = await stored();
  assert.ok(before.length > 0);
  for (const s of before) assert.ok(got.has(s), `${s} published`);
  assert.ok([...got.values()].some((r) => r.action === "assigned"), "the assignment is there");

  await first.kill();
  dead.add(first);
  await c.settled(); // the survivors wait for the dead publisher's hand-over up to the bound
  const second = publisher();
  assert.ok(second && second !== first, "partition 0 moved to a surviving node");
  const survivor = c.nodes.indexOf(second);
  await acceptOne(survivor, "op-b");
  await second.cluster!.auditFeed.poll();
  await c.broker.idle();
  const after = await stored();
  assert.ok(after.length > before.length);
  for (const s of after) assert.ok(got.has(s), `${s} published after the move`);
  const metrics = await (await fetch(`${second.url}/metrics`)).text();
  const line = metrics.split("\n").find((l) => l.startsWith("chat_cluster_audit_published_total "));
  assert.equal(Number(line?.split(" ").pop()), second.cluster!.auditFeed.published);
  assert.ok(second.cluster!.auditFeed.published >= after.length - before.length);
});
