import assert from "node:assert/strict";
import type { Principal, Role } from "../../src/auth/principal.ts";
import { frame, type OutboundFrame } from "../../src/protocol/mod.ts";
import { type Connection, type FrameReader, Hub, type StoredFrame } from "../../src/server/hub.ts";

const CHAT = "chat-1";
const seqOf = (f: OutboundFrame) => (f.payload as { seq?: number }).seq;

/** A connection that records what the hub sends it and lets a test wait for a seq. */
class FakeConn implements Connection {
  readonly sent: OutboundFrame[] = [];
  closedWith: { code: number; reason: string } | null = null;
  #waiters: Array<{ seq: number; resolve: () => void }> = [];

  readonly tokenKey: string;
  constructor(readonly id: string, readonly principal: Principal) {
    this.tokenKey = `token-of-${id}`;
  }

  send(f: OutboundFrame): void {
    this.sent.push(f);
    this.#waiters = this.#waiters.filter((w) => (w.seq === seqOf(f) ? (w.resolve(), false) : true));
  }

  close(code: number, reason: string): void {
    this.closedWith = { code, reason };
  }

  /** Seqs of the session frames received, in order. */
  seqs(): number[] {
    return this.sent.flatMap((f) => (typeof seqOf(f) === "number" ? [seqOf(f)!] : []));
  }

  /**
   * Resolves once a frame with this seq arrived. The fakes use no timers, so if it never comes
   * the event loop runs dry and `deno test` fails the test at once.
   */
  until(seq: number): Promise<void> {
    if (this.seqs().includes(seq)) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ seq, resolve }));
  }
}

function conn(id: string, role: Role = "client", userId = id): FakeConn {
  const scope = role === "client" ? "chat" : "staff";
  return new FakeConn(id, { id: userId, role, scope, expiresAt: Number.MAX_SAFE_INTEGER });
}

const EPOCH = new Date(0).toISOString();
const messageFrame = (seq: number): OutboundFrame =>
  frame("message", {
    chat_id: CHAT,
    seq,
    timestamp: EPOCH,
    sender_id: "c",
    sender_role: "client",
    message: `m${seq}`,
  });
const TYPING = frame("typing", { chat_id: CHAT, user_id: "c", role: "client", is_typing: true });

/**
 * The stored log the hub reads. `pause()` holds reads until `release()`; a held read returns what
 * was stored when it was called (`snapshotAtCall`, a read that raced the writes) or at release.
 */
class FakeLog {
  readonly #events: StoredFrame[] = [];
  reads = 0;
  #gate: { promise: Promise<void>; resolve: () => void; snapshotAtCall: boolean } | null = null;

  /** Stores `n` more events and returns the last (the server stores, then publishes). */
  append(n = 1): StoredFrame {
    for (let i = 0; i < n; i++) {
      const seq = this.#events.length + 1;
      this.#events.push({ seq, frame: messageFrame(seq) });
    }
    return this.#events[this.#events.length - 1];
  }

  appendAndPublish(hub: Hub, n: number): void {
    for (let i = 0; i < n; i++) {
      const { seq, frame } = this.append();
      hub.publish(CHAT, seq, frame);
    }
  }

  pause(snapshotAtCall: boolean): void {
    this.#gate = { ...Promise.withResolvers<void>(), snapshotAtCall };
  }

  release(): void {
    this.#gate?.resolve();
    this.#gate = null;
  }

  readonly read: FrameReader = async (_chatId, afterSeq, limit) => {
    this.reads++;
    const take = () => this.#events.filter((s) => s.seq > afterSeq).slice(0, limit);
    const gate = this.#gate;
    if (!gate) return take();
    const snapshot = take();
    await gate.promise;
    return gate.snapshotAtCall ? snapshot : take();
  };
}

const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

function setup(...conns: FakeConn[]): { hub: Hub; log: FakeLog } {
  const log = new FakeLog();
  const hub = new Hub(log.read);
  for (const c of conns) hub.add(c);
  return { hub, log };
}

Deno.test("publish sends the next seq at once, drops a repeat, and fills a gap from the log", async () => {
  const a = conn("a");
  const { hub, log } = setup(a);
  hub.subscribe("a", CHAT, 0);
  const stored = range(1, 5).map(() => log.append());
  hub.publish(CHAT, 1, stored[0].frame);
  hub.publish(CHAT, 1, stored[0].frame);
  assert.deepEqual(a.seqs(), [1]);
  assert.equal(log.reads, 0); // in order: no read
  hub.publish(CHAT, 4, stored[3].frame); // 2 and 3 were never published live
  await a.until(5);
  hub.publish(CHAT, 5, stored[4].frame); // the repair already read it
  assert.deepEqual(a.seqs(), [1, 2, 3, 4, 5]);
});

for (const snapshotAtCall of [true, false]) {
  Deno.test(`resume replays the log and holds live events until it is done: no gap, no duplicate (read ${snapshotAtCall ? "before" : "after"} the live writes)`, async () => {
    const a = conn("a");
    const { hub, log } = setup(a);
    log.append(3);
    log.pause(snapshotAtCall);
    const done = hub.resume("a", CHAT, 0);
    log.appendAndPublish(hub, 2); // seqs 4 and 5 arrive live while the replay reads
    assert.deepEqual(a.seqs(), []);
    log.release();
    assert.equal(await done, 5);
    assert.deepEqual(a.seqs(), [1, 2, 3, 4, 5]);
    log.appendAndPublish(hub, 1);
    assert.deepEqual(a.seqs(), [1, 2, 3, 4, 5, 6]);
  });
}

Deno.test("resume from an earlier seq on a followed chat delivers again from there; an unknown connection gets nothing", async () => {
  const a = conn("a");
  const { hub, log } = setup(a);
  hub.subscribe("a", CHAT, 0);
  log.appendAndPublish(hub, 3);
  assert.equal(await hub.resume("a", CHAT, 1), 3);
  assert.deepEqual(a.seqs(), [1, 2, 3, 2, 3]);
  const reads = log.reads;
  assert.equal(await hub.resume("ghost", CHAT, 0), 0);
  assert.equal(log.reads, reads);
});

Deno.test("a resume during a replay under way resolves only once caught up, from the seq it asked for", async () => {
  const a = conn("a");
  const { hub, log } = setup(a);
  log.append(3);
  log.pause(false);
  const first = hub.resume("a", CHAT, 2);
  const second = hub.resume("a", CHAT, 0); // e.g. a resume frame while the first still reads
  log.release();
  assert.equal(await first, 3);
  assert.equal(await second, 3);
  assert.deepEqual(a.seqs(), [3, 1, 2, 3]);
});

Deno.test("a replay longer than one page reads page after page", async () => {
  const a = conn("a");
  const { hub, log } = setup(a);
  log.append(450);
  assert.equal(await hub.resume("a", CHAT, 0), 450);
  assert.deepEqual(a.seqs(), range(1, 450));
  assert.equal(log.reads, 3);
});

Deno.test("live events beyond the hold limit during a replay are re-read from the log, not lost", async () => {
  const a = conn("a");
  const { hub, log } = setup(a);
  log.append();
  log.pause(true);
  const done = hub.resume("a", CHAT, 0);
  log.appendAndPublish(hub, 2500); // more than the hub holds back during a replay
  log.release();
  await done;
  await a.until(2501);
  assert.deepEqual(a.seqs(), range(1, 2501));
});

Deno.test("a live event beyond a hole the log cannot fill is delivered after a few tries", async () => {
  const a = conn("a");
  const { hub, log } = setup(a);
  hub.subscribe("a", CHAT, 0);
  log.appendAndPublish(hub, 2);
  hub.publish(CHAT, 4, messageFrame(4)); // 3 is never stored
  await a.until(4);
  assert.deepEqual(a.seqs(), [1, 2, 4]);
  hub.publish(CHAT, 5, messageFrame(5));
  await a.until(5);
  assert.deepEqual(a.seqs(), [1, 2, 4, 5]);
});

Deno.test("a removed connection gets nothing more, even from a replay under way", async () => {
  const a = conn("a");
  const { hub, log } = setup(a);
  log.append(3);
  log.pause(false);
  const done = hub.resume("a", CHAT, 0);
  assert.equal(hub.remove("a"), true);
  assert.equal(hub.remove("a"), false);
  log.release();
  await done;
  log.appendAndPublish(hub, 1);
  hub.broadcast(CHAT, TYPING);
  assert.deepEqual(a.sent, []);
  assert.equal(hub.size, 0);
  assert.equal(hub.isSubscribed("a", CHAT), false);
});

Deno.test("unsubscribeWhere stops the selected connections only, also during their replay", async () => {
  const client = conn("c", "client", "alice");
  const owner = conn("o", "operator", "op-1");
  const peeker = conn("p", "operator", "op-2");
  const replaying = conn("p2", "operator", "op-2");
  const { hub, log } = setup(client, owner, peeker, replaying);
  for (const id of ["c", "o", "p"]) hub.subscribe(id, CHAT, 0);
  log.appendAndPublish(hub, 1);
  log.pause(false);
  const done = hub.resume("p2", CHAT, 0);

  hub.unsubscribeWhere(CHAT, (p) => p.id === "op-2");
  log.release();
  await done;
  log.appendAndPublish(hub, 1);
  assert.deepEqual(client.seqs(), [1, 2]);
  assert.deepEqual(owner.seqs(), [1, 2]);
  assert.deepEqual(peeker.seqs(), [1]);
  assert.deepEqual(replaying.seqs(), []);
  assert.equal(hub.isSubscribed("p", CHAT), false);
});

Deno.test("subscribeUser follows with every connection of the user, and only theirs", () => {
  const tab1 = conn("t1", "operator", "op-1");
  const tab2 = conn("t2", "operator", "op-1");
  const other = conn("x", "operator", "op-2");
  const { hub, log } = setup(tab1, tab2, other);
  hub.subscribeUser("s:op-1", CHAT, 0);
  log.appendAndPublish(hub, 2);
  assert.deepEqual(tab1.seqs(), [1, 2]);
  assert.deepEqual(tab2.seqs(), [1, 2]);
  assert.deepEqual(other.seqs(), []);
});

Deno.test("a client whose id equals a staff id is never reached as that staff member", () => {
  const staff = conn("s", "operator", "op-1");
  const twin = conn("t", "client", "op-1");
  const { hub, log } = setup(staff, twin);
  hub.subscribeUser("s:op-1", CHAT, 0);
  hub.toUser("s:op-1", TYPING);
  log.appendAndPublish(hub, 1);
  assert.deepEqual(staff.seqs(), [1]);
  assert.deepEqual(twin.sent, []);
  assert.equal(hub.connectionsOf("s:op-1"), 1);
  assert.equal(hub.connectionsOf("c:op-1"), 1);
  assert.equal(hub.staffRoleOf("op-1"), "operator");
  hub.remove("s");
  // The client's connection does not count as the operator's presence.
  assert.equal(hub.staffRoleOf("op-1"), undefined);
  assert.equal(hub.connectionsOf("s:op-1"), 0);
});

Deno.test("toStaff with roles reaches only those roles (lawyers do not watch the queue)", () => {
  const op = conn("op", "operator", "op-1");
  const lawyer = conn("law", "lawyer", "law-1");
  const admin = conn("ad", "admin", "admin-1");
  const { hub } = setup(op, lawyer, admin);
  const snapshot = frame("queue_snapshot", { queue: "default", chats: [] });
  hub.toStaff(snapshot, ["operator", "admin"]);
  assert.deepEqual(op.sent, [snapshot]);
  assert.deepEqual(lawyer.sent, []);
  assert.deepEqual(admin.sent, [snapshot]);
});

Deno.test("broadcast skips the sender, toStaff reaches staff only, toUser every tab of a user", () => {
  const c1 = conn("c1", "client", "alice");
  const c2 = conn("c2", "client", "alice");
  const op = conn("op", "operator", "op-1");
  const admin = conn("ad", "admin", "admin-1");
  const { hub } = setup(c1, c2, op, admin);
  for (const id of ["c1", "c2", "op"]) hub.subscribe(id, CHAT, 0);
  hub.broadcast(CHAT, TYPING, "c1");
  const snapshot = frame("queue_snapshot", { queue: "default", chats: [] });
  hub.toStaff(snapshot);
  const pong = frame("pong", { server_time: EPOCH });
  hub.toUser("c:alice", pong);
  assert.deepEqual(c1.sent, [pong]);
  assert.deepEqual(c2.sent, [TYPING, pong]);
  assert.deepEqual(op.sent, [TYPING, snapshot]);
  assert.deepEqual(admin.sent, [snapshot]);
});

Deno.test("counts connections by user and role, remembers the peak, and closes all", () => {
  const a = conn("a", "client", "alice");
  const b = conn("b", "operator", "op-1");
  const c = conn("c", "operator", "op-1");
  const { hub } = setup(a, b, c);
  assert.equal(hub.size, 3);
  assert.equal(hub.connectionsOf("s:op-1"), 2);
  assert.deepEqual(hub.countByRole(), { client: 1, operator: 2, lawyer: 0, admin: 0 });
  hub.remove("c");
  assert.equal(hub.connectionsOf("s:op-1"), 1);
  assert.equal(hub.peakConnections, 3);
  hub.closeAll(1001, "server_shutdown");
  assert.deepEqual(a.closedWith, { code: 1001, reason: "server_shutdown" });
  assert.deepEqual(b.closedWith, { code: 1001, reason: "server_shutdown" });
  assert.equal(c.closedWith, null);
});

Deno.test("resumeUser leaves a connection that already follows the chat as it is (no replay out of order)", async () => {
  const tab = conn("t", "operator", "op-1");
  const { hub, log } = setup(tab);
  hub.subscribe("t", CHAT, 0);
  log.appendAndPublish(hub, 3);
  assert.deepEqual(tab.seqs(), [1, 2, 3]);
  // The chat comes back to op-1 (a transfer): the following connection is not rewound.
  hub.resumeUser("s:op-1", CHAT, 0);
  log.appendAndPublish(hub, 1);
  await tab.until(4);
  assert.deepEqual(tab.seqs(), [1, 2, 3, 4]);
});
