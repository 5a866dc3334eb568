/**
 * The crash-point explorer: plays a flow once to count its KV commits, then once per commit and
 * side of it (before the commit; after it, before its effects) with the node crashing there,
 * restarts on the same KV, lets the survivors reconnect and time pass, and checks the invariants
 * that must hold whatever the crash point (see `checkInvariants`). Every failure names the flow,
 * the crash point and what the commit there held.
 */
import { settle } from "../../src/runtime/clock.ts";
import { ManualClock } from "../../src/runtime/clock.ts";
import type { SessionEvent, SessionState } from "../../actors/session.ts";
import { isParticipant } from "../../actors/session.ts";
import type { Envelope } from "../../src/runtime/entity.ts";
import {
  ACCEPT_TIMEOUT_MS,
  Crashed,
  CrashKv,
  type CrashPoint,
  GRACE_MS,
  Node,
  type Peer,
  storedOperator,
  storedQueue,
  storedSession,
} from "./_world.ts";

/** What a flow did, as its users saw it (so the survivors can come back as they would). */
export class Story {
  /** Staff connected at the end (they reconnect after a crash). */
  readonly staff = new Map<string, "operator" | "lawyer" | "admin">();
  /** Client connections: their chat, and whether they saw the chat end (then they go away). */
  readonly clients = new Map<string, { chatId: string; peer: Peer; done: boolean }>();
  /** Every chat the flow made. */
  readonly chats = new Set<string>();
  /** Messages sent by clients: client_msg_id → acked seq (or null until acked). */
  readonly sent = new Map<string, { chatId: string; clientId: string; seq: number | null }>();
  /** Checks of the flow's own outcome, run after the restart (only for acked steps). */
  readonly promises: Array<
    (view: (id: string) => Promise<SessionState>) => Promise<string | null>
  > = [];
}

export interface Flow {
  readonly name: string;
  readonly mode?: "manual" | "auto";
  /**
   * After the restart, users come back before the owed commands are sent again (a reconnect
   * racing the redelivery): what a connection follows must then come from the chats' own state.
   */
  readonly reconnectFirst?: boolean;
  run(node: Node, story: Story): Promise<void>;
}

export interface Failure {
  readonly flow: string;
  readonly at: CrashPoint | null;
  readonly commit: string;
  readonly problem: string;
}

/** Runs `flow` uncut and at every crash point; returns the failures (empty when all hold). */
export async function explore(flow: Flow, opts: { limit?: number } = {}): Promise<{
  commits: number;
  runs: number;
  failures: Failure[];
}> {
  const clean = await runOnce(flow, null);
  const failures = [...clean.failures];
  const n = Math.min(clean.commits, opts.limit ?? Infinity);
  let runs = 1;
  for (let i = 1; i <= n; i++) {
    for (const when of ["before", "after"] as const) {
      const r = await runOnce(flow, { n: i, when });
      failures.push(...r.failures);
      runs++;
    }
  }
  return { commits: clean.commits, runs, failures };
}

async function runOnce(flow: Flow, at: CrashPoint | null) {
  const real = await Deno.openKv(":memory:");
  const crashKv = new CrashKv(real, at);
  const story = new Story();
  const clock = new ManualClock();
  const mode = flow.mode ?? "manual";
  let node = Node.create(crashKv.kv, clock, mode);
  crashKv.onCrash(() => node.halt());
  const failures: Failure[] = [];
  const fail = (problem: string) =>
    failures.push({
      flow: flow.name,
      at,
      commit: at ? crashKv.described[at.n - 1] ?? "?" : "none",
      problem,
    });
  try {
    try {
      await node.start();
      await flow.run(node, story);
    } catch (err) {
      if (!crashKv.crashed) throw err;
    }
    await node.settle();
    if (crashKv.crashed) {
      // The process is gone; a new one starts on the same data, and the users come back.
      const clock2 = new ManualClock(clock.now());
      node = Node.create(real, clock2, mode);
      await node.start({ owed: !flow.reconnectFirst });
      await comeBack(node, story);
      if (flow.reconnectFirst) await node.system.redeliverOwed();
    }
    // Time passes: grace periods and offers run out, replays finish.
    await node.settle(GRACE_MS + ACCEPT_TIMEOUT_MS + 1000);
    for (const problem of await checkInvariants(real, node, story)) fail(problem);
    node.halt();
    await node.system.committer.flushed();
  } catch (err) {
    fail(`the run threw: ${(err as Error).stack ?? err}`);
  } finally {
    await settle();
    real.close();
  }
  return { commits: crashKv.commits, failures };
}

/** After a restart: staff reconnect; clients that have not seen their chat end resume it. */
async function comeBack(node: Node, story: Story): Promise<void> {
  for (const [id, role] of story.staff) await node.connect(node.staff(id, role));
  for (const [clientId, c] of story.clients) {
    if (c.done) continue;
    const last = Math.max(0, ...c.peer.conn.seqs(c.chatId));
    const peer = await node.connect(node.client(clientId, c.chatId), { lastSeq: last });
    story.clients.set(clientId, { ...c, peer });
    // Messages never acknowledged are sent again with their id, as the widget's outbox does.
    for (const [msgId, m] of story.sent) {
      if (m.clientId !== clientId || m.seq !== null) continue;
      const reply = await node.frame(peer, "message", {
        chat_id: m.chatId,
        text: `retry ${msgId}`,
        client_msg_id: msgId,
      });
      if (reply?.type === "ack") m.seq = (reply.payload as { seq: number }).seq;
    }
  }
  await node.settle();
}

/**
 * What must hold after any crash, once the survivors are back and time has passed:
 * - the queue's waiting chats are exactly the support chats whose own state is `queued`, and its
 *   active chats exactly the assigned ones, each with the session's operator (one owner);
 * - every operator's open chats are exactly the chats whose state names them as owner;
 * - no connection follows a chat its principal may not read;
 * - every acknowledged message is stored once, and no retried one twice;
 * - every connection's stream of a chat is gap-free and in order;
 * - what the flow's users were told (acks) is what is stored.
 */
async function checkInvariants(kv: Deno.Kv, node: Node, story: Story): Promise<string[]> {
  const problems: string[] = [];
  const sessions = new Map<string, SessionState>();
  for (const id of story.chats) sessions.set(id, await storedSession(kv, id));
  const queue = await storedQueue(kv);
  const waiting = new Set(queue.waiting.map((w) => w.chatId));
  for (const [id, s] of sessions) {
    const short = id.slice(0, 8);
    const inQueue = waiting.has(id);
    const active = Object.hasOwn(queue.active, id) ? queue.active[id] : undefined;
    if (s.kind === "support" && s.status === "queued" && !inQueue) {
      problems.push(`chat ${short} is queued but not in the waiting list`);
    }
    if (inQueue && s.status !== "queued") {
      problems.push(`chat ${short} waits in the queue but its state is ${s.status}`);
    }
    if (s.kind === "support" && s.status === "assigned" && active?.operatorId !== s.operatorId) {
      problems.push(
        `chat ${short} is assigned to ${s.operatorId} but the queue says ${active?.operatorId}`,
      );
    }
    if (active && s.status !== "assigned") {
      problems.push(`chat ${short} is active in the queue but its state is ${s.status}`);
    }
  }
  for (const staffId of ["op-1", "op-2", "law-1"]) {
    const op = await storedOperator(kv, staffId);
    const owned = [...sessions].filter(([, s]) => s.operatorId === staffId && s.status !== "closed")
      .map(([id]) => id).sort();
    const listed = op.openChats.filter((id) => story.chats.has(id)).sort();
    if (JSON.stringify(owned) !== JSON.stringify(listed)) {
      problems.push(
        `${staffId} lists ${short(listed)} as open but owns ${short(owned)}`,
      );
    }
  }
  for (const peer of node.peers) {
    if (peer.conn.closed) continue;
    const p = peer.conn.principal;
    for (const [id, s] of sessions) {
      if (!node.hub.isSubscribed(peer.conn.id, id)) continue;
      const by = { id: p.id, role: p.role };
      const mayRead = isParticipant(s, by) || (p.role === "operator" && s.status === "queued");
      if (!mayRead) {
        problems.push(`${p.role} ${p.id} follows chat ${id.slice(0, 8)} it may not read`);
      }
    }
    for (const id of story.chats) {
      const seqs = peer.conn.seqs(id);
      for (let i = 1; i < seqs.length; i++) {
        if (seqs[i] !== seqs[i - 1] + 1) {
          problems.push(
            `${p.role} ${p.id} got chat ${id.slice(0, 8)} out of order: …${
              seqs.slice(Math.max(0, i - 3), i + 3).join(",")
            }…`,
          );
          break;
        }
      }
    }
  }
  const stored = new Map<string, number[]>();
  for (const id of story.chats) {
    const envs = await node.system.readEvents<SessionEvent>("session", id, 0, 100_000);
    for (const env of envs as Envelope<SessionEvent>[]) {
      const e = env.event;
      if (e.type !== "message" || !e.clientMsgId) continue;
      const k = `${id}/${e.senderId}/${e.clientMsgId}`;
      stored.set(k, [...(stored.get(k) ?? []), env.seq]);
    }
  }
  for (const [msgId, m] of story.sent) {
    const got = stored.get(`${m.chatId}/${m.clientId}/${msgId}`) ?? [];
    if (got.length > 1) problems.push(`message ${msgId} stored ${got.length} times`);
    if (m.seq !== null && (got.length !== 1 || got[0] !== m.seq)) {
      problems.push(`message ${msgId} was acked with seq ${m.seq} but stored at [${got}]`);
    }
  }
  for (const promise of story.promises) {
    const problem = await promise((id) => storedSession(kv, id));
    if (problem) problems.push(problem);
  }
  return problems;
}

const short = (ids: string[]) => `[${ids.map((id) => id.slice(0, 8)).join(",")}]`;

export { Crashed };
