/**
 * The crash-point explorer's world: one node of the engine in this process (actor system, hub,
 * chat and routing services, connection handlers over fake connections) on an in-memory KV whose
 * commits can be cut. A run plays a flow; the KV counts its atomic commits and, at the chosen one,
 * "crashes" the node: either before the commit (it never happens) or right after it, before any of
 * its effects run (replies, tells to other actors, frames). Nothing more is written by that node.
 * Then a new node starts on the same KV, staff reconnect, clients that have not seen their chat
 * end reconnect with their last seq, time passes, and the invariants are checked against what is
 * stored (sessions and operators replayed from their logs, without running their recovery).
 */
import { sessionEntity, type SessionState } from "../../actors/session.ts";
import { operatorEntity, type OperatorState, toView } from "../../actors/operator.ts";
import { queueEntity, type QueueState, toSnapshot } from "../../actors/queue.ts";
import { clientEntity } from "../../actors/client.ts";
import { Authenticator } from "../../src/auth/mod.ts";
import type { Principal, StaffRole } from "../../src/auth/principal.ts";
import { silentLogger } from "../../src/log.ts";
import { type OutboundFrame } from "../../src/protocol/mod.ts";
import { ManualClock, settle } from "../../src/runtime/clock.ts";
import type { AnyEntity } from "../../src/runtime/entity.ts";
import { type ActorRouter, ActorSystem } from "../../src/runtime/system.ts";
import { ChatService } from "../../src/server/chat_service.ts";
import { ConnectionHandler, type HandlerOptions } from "../../src/server/connection_handler.ts";
import { type Connection, Hub } from "../../src/server/hub.ts";
import { UserLimits } from "../../src/server/limits.ts";
import { RoutingService } from "../../src/server/routing_service.ts";

export const QUEUE_NAME = "default";
export const GRACE_MS = 30_000;
export const ACCEPT_TIMEOUT_MS = 30_000;
const SECRET = "crash-explorer-secret-0123456789abcdef";

/** Where to cut: before the n-th commit (it never happens) or just after it (no effects). */
export interface CrashPoint {
  readonly n: number;
  readonly when: "before" | "after";
}

/** Thrown into the crashed node's pending work; flows stop at it. */
export class Crashed extends Error {
  constructor() {
    super("crashed");
  }
}

/**
 * A `Deno.Kv` whose `atomic().commit()` is counted and can be cut. Reads pass through. After the
 * crash every commit fails (the process is gone).
 */
export class CrashKv {
  commits = 0;
  readonly described: string[] = [];
  crashed = false;
  #crashAt: CrashPoint | null;
  #onCrash: () => void = () => {};
  readonly kv: Deno.Kv;

  constructor(real: Deno.Kv, crashAt: CrashPoint | null) {
    this.#crashAt = crashAt;
    const atomic = (op: Deno.AtomicOperation) => this.#atomic(op);
    this.kv = new Proxy(real, {
      get(target, prop) {
        if (prop === "atomic") return () => atomic(target.atomic());
        const v = Reflect.get(target, prop);
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
  }

  /** What to do at the crash (halt the node). */
  onCrash(fn: () => void): void {
    this.#onCrash = fn;
  }

  #atomic(op: Deno.AtomicOperation): Deno.AtomicOperation {
    const keys: Deno.KvKey[] = [];
    const commit = (target: Deno.AtomicOperation) => this.#commit(target, keys);
    return new Proxy(op, {
      get(target, prop) {
        if (prop === "commit") return () => commit(target);
        const v = Reflect.get(target, prop);
        if (typeof v !== "function") return v;
        return (...args: unknown[]) => {
          if (prop === "set" || prop === "sum" || prop === "max" || prop === "delete") {
            keys.push(args[0] as Deno.KvKey);
          }
          const r = v.apply(target, args);
          return r === target ? this : r;
        };
      },
    }) as Deno.AtomicOperation;
  }

  async #commit(op: Deno.AtomicOperation, keys: Deno.KvKey[]) {
    if (this.crashed) throw new Crashed();
    const n = ++this.commits;
    this.described.push(describe(keys));
    const at = this.#crashAt;
    if (at && at.n === n && at.when === "before") {
      this.#crash();
      throw new Crashed();
    }
    const result = await op.commit();
    if (at && at.n === n && at.when === "after") this.#crash();
    return result;
  }

  #crash(): void {
    this.crashed = true;
    this.#onCrash();
  }
}

/** The actors whose events a commit holds, e.g. `session/3f2a…#5 operator/op-1#2`. */
function describe(keys: Deno.KvKey[]): string {
  const out = new Set<string>();
  for (const k of keys) {
    if (k[0] === "a" && (k[1] === "ev" || k[1] === "sp" || k[1] === "sn")) {
      out.add(`${k[1] === "ev" ? "" : "snapshot "}${String(k[2])}/${String(k[3]).slice(0, 8)}`);
    }
  }
  return [...out].join(" ") || "other";
}

/** A connection that records what it is sent. */
export class FakeConn implements Connection {
  readonly id = crypto.randomUUID();
  readonly tokenKey = "t";
  readonly frames: OutboundFrame[] = [];
  closed: { code: number; reason: string } | null = null;
  constructor(readonly principal: Principal) {}
  send(f: OutboundFrame): void {
    if (!this.closed) this.frames.push(f);
  }
  close(code: number, reason: string): void {
    this.closed ??= { code, reason };
  }
  /** Session-event seqs received for a chat, in arrival order. */
  seqs(chatId: string): number[] {
    return this.frames.filter((f) =>
      f.type !== "ack" && (f.payload as { chat_id?: string }).chat_id === chatId &&
      typeof (f.payload as { seq?: unknown }).seq === "number"
    ).map((f) => (f.payload as { seq: number }).seq);
  }
}

export interface Peer {
  readonly conn: FakeConn;
  readonly handler: ConnectionHandler;
}

/** One incarnation of the engine on the shared KV. */
export class Node {
  readonly clock: ManualClock;
  readonly system: ActorSystem;
  readonly hub: Hub;
  readonly svc: ChatService;
  readonly routing: RoutingService;
  readonly auth: Authenticator;
  readonly options: HandlerOptions;
  readonly peers: Peer[] = [];

  private constructor(
    kv: Deno.Kv,
    clock: ManualClock,
    mode: "manual" | "auto",
    route?: (system: ActorSystem) => ActorRouter,
  ) {
    this.clock = clock;
    this.system = new ActorSystem({
      kv,
      clock,
      logger: silentLogger,
      entities: [sessionEntity, queueEntity, operatorEntity, clientEntity] as AnyEntity[],
      passivateAfterMs: 0,
      snapshotEvery: 1_000_000,
    });
    let svc: ChatService | null = null;
    this.hub = new Hub((chatId, after, limit, wanted) =>
      svc!.readFrames(chatId, after, limit, undefined, wanted)
    );
    svc = this.svc = new ChatService({
      system: this.system,
      hub: this.hub,
      queue: QUEUE_NAME,
      maxTextLength: 4000,
      bootId: crypto.randomUUID(),
      ...(route ? { router: route(this.system) } : {}),
    });
    this.routing = new RoutingService(svc, QUEUE_NAME);
    this.auth = new Authenticator({ secret: SECRET, clock });
    this.options = {
      routing: this.routing,
      auth: this.auth,
      limits: new UserLimits({
        maxConnections: 100,
        messagesPerMin: 1_000_000,
        framesPerMin: 1_000_000,
        now: () => clock.now(),
      }),
      maxFrameBytes: 65_536,
      heartbeatMs: 3_600_000,
      tokenWarningMs: 60_000,
      clock,
      now: () => clock.now(),
      log: silentLogger,
    };
    this.mode = mode;
  }

  readonly mode: "manual" | "auto";

  /**
   * A node whose queue is not started yet (`start` does it, as the server does). `route` puts a
   * router of the test's own between the services and the actors (to order their asks).
   */
  static create(
    kv: Deno.Kv,
    clock: ManualClock,
    mode: "manual" | "auto",
    route?: (system: ActorSystem) => ActorRouter,
  ): Node {
    return new Node(kv, clock, mode, route);
  }

  /**
   * Starts as a server does: the queue with its routing settings (which recovers it), then the
   * commands actors owed each other when the last process stopped (unless `owed: false`: the
   * caller sends them later, e.g. after users came back).
   */
  async start(opts: { owed?: boolean } = {}): Promise<void> {
    await this.svc.configureQueue({
      mode: this.mode,
      defaultCapacity: 5,
      acceptTimeoutMs: ACCEPT_TIMEOUT_MS,
      graceMs: GRACE_MS,
    });
    if (opts.owed !== false) await this.system.redeliverOwed();
  }

  /** Set by `halt`: a dead process takes no more connections. */
  #halted = false;

  /** Dies as a killed process would. */
  halt(): void {
    this.#halted = true;
    this.system.halt();
    for (const p of this.peers) p.handler.onClose();
  }

  staff(id: string, role: StaffRole = "operator"): Principal {
    return { id, role, scope: "staff", expiresAt: Number.POSITIVE_INFINITY };
  }

  client(id: string, chatId: string): Principal {
    return { id, role: "client", scope: "chat", chatId, expiresAt: Number.POSITIVE_INFINITY };
  }

  /** Opens a connection as `p` (with a resume cursor), as a transport would. */
  async connect(
    p: Principal,
    query: { chatId?: string; lastSeq?: number; resume?: Map<string, number> } = {},
  ): Promise<Peer> {
    if (this.#halted) throw new Crashed();
    const conn = new FakeConn(p);
    const handler = new ConnectionHandler(this.svc, conn, this.options);
    const peer = { conn, handler };
    this.peers.push(peer);
    await handler.open(query);
    await settle();
    return peer;
  }

  /** Sends one frame through the peer's handler; resolves with its reply frame. */
  async frame(
    peer: Peer,
    type: string,
    payload: Record<string, unknown>,
  ): Promise<OutboundFrame | null> {
    const outcome = await peer.handler.handle({ value: { type, payload, ref: "r" } });
    await outcome.after?.();
    return outcome.reply;
  }

  /**
   * Lets effects, timers (up to `ms` of clock time) and replays run. Before the clock moves, the
   * node is let quiet (no commit for a few turns): a jump over an ask's deadline while its write
   * is still on its way would be a test's artefact, not something a crash does.
   */
  async settle(ms = 0): Promise<void> {
    await this.quiesce();
    if (ms > 0) await this.clock.advance(ms);
    await this.quiesce();
  }

  async quiesce(): Promise<void> {
    let quiet = 0;
    let last = -1;
    while (quiet < 3) {
      await settle(2);
      await this.system.committer.flushed();
      const commits = this.system.committer.stats.commits + this.system.committer.stats.failures;
      quiet = commits === last && this.system.stats().mailboxDepth === 0 ? quiet + 1 : 0;
      last = commits;
    }
  }
}

/** The state an actor's log holds, replayed without running its recovery (a pure read). */
export async function storedState<S>(kv: Deno.Kv, entity: AnyEntity, id: string): Promise<S> {
  const system = new ActorSystem({ kv, entities: [entity], logger: silentLogger });
  const rec = await system.journal.recover<S, unknown>(entity.type, id);
  let state = !rec.snapshot
    ? entity.initialState(id) as S
    : entity.fromSnapshot
    ? entity.fromSnapshot(rec.snapshot.state, id) as S
    : rec.snapshot.state;
  for (const env of rec.events) state = entity.evolve(state, env.event);
  await system.shutdown();
  return state;
}

export const storedSession = (kv: Deno.Kv, id: string) =>
  storedState<SessionState>(kv, sessionEntity as AnyEntity, id);
/** The operator as plain JSON (its open chats as a list). */
export const storedOperator = async (kv: Deno.Kv, id: string) =>
  toView(await storedState<OperatorState>(kv, operatorEntity as AnyEntity, id));
/** The queue as plain JSON (waiting chats as a list, active ones by id). */
export const storedQueue = async (kv: Deno.Kv) =>
  toSnapshot(await storedState<QueueState>(kv, queueEntity as AnyEntity, QUEUE_NAME));
