/**
 * The actor system: one cell (mailbox + state) per actor, created on its first message,
 * recovered from KV before that message is handled, passivated when idle.
 */
import { AppError } from "../errors.ts";
import { type Logger, silentLogger, withoutLogContext } from "../log.ts";
import { type Clock, SystemClock, type TimerId } from "./clock.ts";
import { GroupCommitter, isFenced, type KvCheck } from "./committer.ts";
import { Deadlines, KeyedTimers } from "./_timers.ts";
import type {
  ActorAddress,
  AnyEntity,
  CommandOf,
  CustomEffect,
  Effect,
  Envelope,
  ReplyOf,
} from "./entity.ts";
import { Journal } from "./journal.ts";
import { Mailbox } from "./mailbox.ts";
import { type Cell, type Message, type OwedTell, processBatch, recoverCell } from "./_cell.ts";

export interface ActorSystemOptions {
  readonly kv: Deno.Kv;
  readonly entities: readonly AnyEntity[];
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** Messages a mailbox holds before senders get `overloaded`. */
  readonly mailboxCapacity?: number;
  /** Messages handled per drained batch (one group commit). */
  readonly maxBatch?: number;
  /** Snapshot every N events. */
  readonly snapshotEvery?: number;
  /** Idle time after which an actor is snapshotted and dropped from memory; 0 turns it off. */
  readonly passivateAfterMs?: number;
  readonly askTimeoutMs?: number;
  readonly keyPrefix?: Deno.KvKey;
  readonly maxInFlightCommits?: number;
  /** How long a write waits for another process's lock on the KV file (ms). */
  readonly kvLockWaitMs?: number;
  /** Runs application effects after the commit that produced them. */
  readonly onEffect?: (effect: CustomEffect, from: ActorAddress) => void;
  /** Extra KV checks for every write of an actor (cluster fencing). */
  readonly fence?: (address: ActorAddress) => readonly KvCheck[];
  /** Called when an actor's write failed its fence: another node owns it now. */
  readonly onFenced?: (address: ActorAddress) => void;
  /**
   * Effect tells go through this first (cluster: to the owning node). It returns true when it
   * took the command; false delivers it here. `outboxKey` travels with the command (see
   * `Message.outboxKey`).
   */
  readonly forward?: (to: ActorAddress, command: unknown, outboxKey?: Deno.KvKey) => boolean;
  /**
   * How often owed commands left undelivered (a full mailbox that never drained, a node that died
   * with the command) are looked for and sent again; 0 turns the sweep off (default 10 s).
   */
  readonly owedSweepMs?: number;
}

/**
 * Options of an ask. `fresh`: the caller has just made the actor's id (a random UUID), so nothing
 * can be stored under it: the actor starts from its initial state without reading storage (a
 * brand-new chat then costs its commit, not three KV reads first). Never for ids that may exist.
 */
export interface AskOptions {
  readonly timeoutMs?: number;
  readonly fresh?: boolean;
}

/** What the services need to reach actors: the local system, or the cluster's router. */
export interface ActorRouter {
  ask<T extends AnyEntity>(
    entity: T,
    id: string,
    command: CommandOf<T>,
    opts?: AskOptions,
  ): Promise<ReplyOf<T>>;
  askType(
    type: string,
    id: string,
    command: unknown,
    opts?: AskOptions,
  ): Promise<unknown>;
  tellType(type: string, id: string, command: unknown, opts?: TellOptions): void;
}

export interface TellOptions {
  /** The sender's durable record of the command, settled by the batch that handles it. */
  readonly outboxKey?: Deno.KvKey;
}

export type CommitListener = (
  address: ActorAddress,
  envelopes: readonly Envelope<unknown>[],
) => void;

export interface SystemStats {
  actors: number;
  mailboxDepth: number;
  maxMailboxDepth: number;
  restarts: number;
  dispatchErrors: number;
  passivations: number;
  recoveries: number;
}

const EFFECT_RETRY_MS = [5, 20, 100, 500, 2000];
/** An owed command sent this long ago and still not settled is taken for lost and sent again. */
const OWED_LOST_MS = 60_000;
/** Owed commands in flight remembered (oldest forgotten first). */
const MAX_OWED_TRACKED = 100_000;

export class ActorSystem implements ActorRouter {
  readonly clock: Clock;
  readonly journal: Journal;
  readonly committer: GroupCommitter;
  readonly log: Logger;
  readonly #opts: Required<
    Pick<
      ActorSystemOptions,
      "mailboxCapacity" | "maxBatch" | "snapshotEvery" | "passivateAfterMs" | "askTimeoutMs"
    >
  >;
  readonly #entities = new Map<string, AnyEntity>();
  readonly #cells = new Map<string, Cell>();
  readonly #listeners = new Set<CommitListener>();
  readonly #onEffect?: ActorSystemOptions["onEffect"];
  readonly #fence?: ActorSystemOptions["fence"];
  readonly #onFenced?: ActorSystemOptions["onFenced"];
  readonly #forward?: ActorSystemOptions["forward"];
  #sweepTimer: TimerId | null = null;
  #owedTimer: TimerId | null = null;
  readonly #owedSweepMs: number;
  /** Owed commands sent by this process and not yet seen settled: the sweep leaves them be. */
  readonly #owedInFlight = new Map<string, number>();
  /** Pending asks by deadline: one clock timer for all of them. */
  readonly #deadlines: Deadlines<Message>;
  readonly #timers: KeyedTimers;
  #closing = false;
  readonly #counters = { restarts: 0, dispatchErrors: 0, passivations: 0, recoveries: 0 };

  constructor(opts: ActorSystemOptions) {
    this.clock = opts.clock ?? new SystemClock();
    this.log = opts.logger ?? silentLogger;
    this.committer = new GroupCommitter(opts.kv, opts.maxInFlightCommits ?? 2, opts.kvLockWaitMs);
    this.journal = new Journal(opts.kv, this.committer, opts.keyPrefix ?? ["a"]);
    this.#opts = {
      mailboxCapacity: opts.mailboxCapacity ?? 1000,
      maxBatch: opts.maxBatch ?? 128,
      snapshotEvery: opts.snapshotEvery ?? 500,
      passivateAfterMs: opts.passivateAfterMs ?? 300_000,
      askTimeoutMs: opts.askTimeoutMs ?? 5_000,
    };
    for (const e of opts.entities) this.#entities.set(e.type, e);
    this.#onEffect = opts.onEffect;
    this.#timers = new KeyedTimers(this.clock);
    this.#deadlines = new Deadlines<Message>(this.clock, (msg) => {
      if (msg.settled) return;
      msg.settled = true;
      msg.reject?.(msg.timeout?.() ?? new AppError("timeout"));
    });
    this.#fence = opts.fence;
    this.#onFenced = opts.onFenced;
    this.#forward = opts.forward;
    this.#owedSweepMs = opts.owedSweepMs ?? 10_000;
    this.#armSweep();
    this.#armOwedSweep();
  }

  /** Sends a command and waits for the reply, which comes only after its events are stored. */
  ask<T extends AnyEntity>(
    entity: T,
    id: string,
    command: CommandOf<T>,
    opts: AskOptions = {},
  ): Promise<ReplyOf<T>> {
    return this.askType(entity.type, id, command, opts) as Promise<ReplyOf<T>>;
  }

  askType(
    type: string,
    id: string,
    command: unknown,
    opts: AskOptions = {},
  ): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const timeoutMs = opts.timeoutMs ?? this.#opts.askTimeoutMs;
      let untrack: (() => void) | undefined;
      const msg: Message = {
        command,
        settled: false,
        resolve: (v) => {
          untrack?.();
          resolve(v);
        },
        reject: (e) => {
          untrack?.();
          reject(e);
        },
      };
      this.#enqueue(type, id, msg, 0, opts.fresh === true);
      if (!msg.settled) {
        msg.timeout = () =>
          new AppError("timeout", `No reply from ${type} ${id} within ${timeoutMs} ms`);
        untrack = this.#deadlines.add(msg, this.clock.now() + timeoutMs);
      }
    });
  }

  /** Sends a command without waiting. Throws `overloaded` when the mailbox is full. */
  tell<T extends AnyEntity>(entity: T, id: string, command: CommandOf<T>): void {
    this.tellType(entity.type, id, command);
  }

  tellType(type: string, id: string, command: unknown, opts: TellOptions = {}): void {
    const msg: Message = {
      command,
      settled: false,
      ...(opts.outboxKey ? { outboxKey: opts.outboxKey } : {}),
    };
    this.#enqueue(type, id, msg, 0);
    if (msg.error) throw msg.error;
  }

  /**
   * Sends again every command an actor owes another and that is still recorded as owed (its
   * receiver never handled it): after a start (a crash may have cut deliveries off), when this
   * node takes over actors (`owns` picks the senders now here), and from a periodic sweep for
   * commands older than `minAgeMs` that this process did not send or sent long ago. In each
   * sender's decision order; receivers take commands again idempotently.
   */
  async redeliverOwed(
    owns: (sender: ActorAddress) => boolean = () => true,
    minAgeMs = 0,
  ): Promise<number> {
    const now = this.clock.now();
    let n = 0;
    for await (const o of this.journal.owed()) {
      if (this.#closing) break;
      if (!owns(o.from) || now - o.at < minAgeMs) continue;
      const k = JSON.stringify(o.key);
      const sentAt = this.#owedInFlight.get(k);
      if (sentAt !== undefined && minAgeMs > 0 && now - sentAt < OWED_LOST_MS) continue;
      this.#sendOwed(o.to, o.command, o.key);
      n++;
    }
    if (n > 0) this.log.info("owed commands sent again", { count: n });
    return n;
  }

  /** Reads a stored event range of an actor (e.g. a chat's history). */
  readEvents<E>(type: string, id: string, afterSeq: number, limit: number): Promise<Envelope<E>[]> {
    return this.journal.readEvents<E>(type, id, afterSeq, limit);
  }

  onCommitted(listener: CommitListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Resolves once a live actor has handled everything sent to it so far, including what it sent
   * itself meanwhile (tests and diagnostics: a timer's command reaches the mailbox when the clock
   * moves, and its batch still has a KV commit to make).
   */
  async settled(type: string, id: string): Promise<void> {
    const cell = this.#cells.get(`${type}\u0000${id}`);
    while (cell && (cell.running || !cell.mailbox.isEmpty)) {
      if (!cell.running) this.#schedule(cell);
      await this.#idle(cell);
    }
  }

  /** Current in-memory state of a live actor, or undefined (tests and diagnostics). */
  inspect(type: string, id: string): { state: unknown; seq: number } | undefined {
    const cell = this.#cells.get(`${type}\u0000${id}`);
    return cell?.state === undefined ? undefined : { state: cell.state, seq: cell.seq };
  }

  stats(): SystemStats {
    let depth = 0, max = 0;
    for (const cell of this.#cells.values()) {
      depth += cell.mailbox.size;
      max = Math.max(max, cell.mailbox.size);
    }
    return {
      actors: this.#cells.size,
      mailboxDepth: depth,
      maxMailboxDepth: max,
      ...this.#counters,
    };
  }

  /** Passivates every idle actor that has been idle long enough; the clock calls it too. */
  async sweep(): Promise<void> {
    const limit = this.#opts.passivateAfterMs;
    if (limit <= 0) return;
    const now = this.clock.now();
    const idle = [...this.#cells.values()].filter((c) =>
      c.entity.passivate !== false && !c.running && c.mailbox.isEmpty &&
      now - c.lastActive >= limit
    );
    await Promise.all(idle.map((c) => this.#passivate(c)));
  }

  /** Stops taking messages, lets running batches finish, snapshots every actor cleanly. */
  async shutdown(): Promise<void> {
    this.#closing = true;
    if (this.#sweepTimer !== null) this.clock.clearTimeout(this.#sweepTimer);
    if (this.#owedTimer !== null) this.clock.clearTimeout(this.#owedTimer);
    const cells = [...this.#cells.values()];
    // Asks still waiting get their answers from the drained batches or their deadline below.
    await Promise.all(cells.map((c) => this.#idle(c)));
    await Promise.all(cells.map((c) => this.#passivate(c)));
    await this.committer.flushed();
    this.#timers.clear();
    const gone = new AppError("unavailable", "Server is shutting down");
    for (const m of this.#deadlines.clear()) this.#fail(m, gone);
  }

  /**
   * Hands actors over (cluster rebalance): lets each matching actor finish its mailbox, writes a
   * clean snapshot, cancels its timers and drops it from memory. The caller has already stopped
   * routing new commands here. Returns how many actors were released.
   */
  async release(match: (address: ActorAddress) => boolean): Promise<number> {
    const cells = [...this.#cells.values()].filter((c) => match(c.address));
    await Promise.all(cells.map(async (cell) => {
      while (cell.running || !cell.mailbox.isEmpty) {
        if (!cell.running) this.#schedule(cell);
        await this.#idle(cell);
      }
      await this.#snapshot(cell, true).catch((err) =>
        this.log.warn("release snapshot failed; the next owner replays the events", {
          ...cell.address,
          err,
        })
      );
      const key = `${cell.address.type}\u0000${cell.address.id}`;
      if (this.#cells.get(key) === cell) this.#cells.delete(key);
      this.#timers.cancelPrefix(`${key}\u0000`);
    }));
    return cells.length;
  }

  /** Stops dead, as a crashed process would: no snapshots, no more writes, timers dropped. */
  halt(): void {
    this.#closing = true;
    if (this.#sweepTimer !== null) this.clock.clearTimeout(this.#sweepTimer);
    if (this.#owedTimer !== null) this.clock.clearTimeout(this.#owedTimer);
    this.#timers.clear();
    const gone = new AppError("unavailable", "Node stopped");
    for (const m of this.#deadlines.clear()) this.#fail(m, gone);
    for (const cell of this.#cells.values()) {
      for (const m of cell.mailbox.takeAll()) this.#fail(m, gone);
    }
  }

  // ---- internals ----

  #enqueue(type: string, id: string, msg: Message, overflow: number, fresh = false): void {
    if (this.#closing) {
      this.#fail(msg, new AppError("unavailable", "Server is shutting down"));
      return;
    }
    const entity = this.#entities.get(type);
    if (!entity) {
      this.#fail(msg, new AppError("internal", `No entity type ${type}`));
      return;
    }
    const key = `${type}\u0000${id}`;
    let cell = this.#cells.get(key);
    if (!cell) {
      cell = {
        address: { type, id },
        entity,
        mailbox: new Mailbox<Message>(this.#opts.mailboxCapacity),
        // A fresh id has nothing stored: no recovery to wait for.
        state: fresh ? entity.initialState(id) : undefined,
        seq: 0,
        snapshotSeq: 0,
        cleanSeq: -1,
        running: false,
        lastActive: this.clock.now(),
        idleWaiters: [],
        snapshotting: null,
      };
      this.#cells.set(key, cell);
    }
    if (!cell.mailbox.push(msg, overflow)) {
      this.#fail(msg, new AppError("overloaded", `Mailbox of ${type} ${id} is full`));
      return;
    }
    this.#schedule(cell);
  }

  #fail(msg: Message, err: AppError): void {
    if (msg.settled) return;
    msg.settled = true;
    if (msg.reject) msg.reject(err);
    else msg.error = err;
  }

  #schedule(cell: Cell): void {
    if (cell.running) return;
    cell.running = true;
    queueMicrotask(() => void withoutLogContext(() => this.#drive(cell)));
  }

  async #drive(cell: Cell): Promise<void> {
    try {
      while (!cell.mailbox.isEmpty) {
        if (cell.state === undefined) {
          try {
            const effects = await recoverCell(cell, this.journal, this.clock.now());
            this.#counters.recoveries++;
            this.#runEffects(effects, cell.address);
          } catch (err) {
            this.log.error("actor recovery failed", { ...cell.address, err });
            const e = new AppError("unavailable", "Actor could not be recovered", { cause: err });
            for (const m of cell.mailbox.takeAll()) this.#fail(m, e);
            break;
          }
        }
        await this.#batch(cell);
      }
    } finally {
      cell.lastActive = this.clock.now();
      this.#letGo(cell);
      if (!cell.mailbox.isEmpty) this.#schedule(cell);
      else if (cell.seq === 0 && cell.entity.passivate !== false) this.#forget(cell);
    }
  }

  /**
   * An actor with no stored event is its initial state: keeping it in memory serves nothing, and
   * commands naming ids that do not exist (a chat id made up by a caller) would otherwise pile
   * up one cell each until the idle sweep.
   */
  #forget(cell: Cell): void {
    const key = `${cell.address.type}\u0000${cell.address.id}`;
    if (this.#cells.get(key) === cell && !cell.running) this.#cells.delete(key);
  }

  async #batch(cell: Cell): Promise<void> {
    const outcome = await processBatch(cell, {
      journal: this.journal,
      now: () => this.clock.now(),
      maxBatch: this.#opts.maxBatch,
      checks: this.#fence?.(cell.address) ?? [],
      afterCommit: (envelopes, effects) => {
        if (envelopes.length > 0) this.#notify(cell.address, envelopes);
        for (const list of effects) this.#runEffects(list, cell.address);
      },
    });
    for (const key of outcome.settled ?? []) this.#owedInFlight.delete(JSON.stringify(key));
    if (outcome.restarted && isFenced(outcome.restarted)) {
      this.log.warn("actor write fenced: another node owns it now", { ...cell.address });
      this.#onFenced?.(cell.address);
    } else if (outcome.restarted) {
      this.#counters.restarts++;
      this.log.error("actor failed; restarting from stored state", {
        ...cell.address,
        err: outcome.restarted,
      });
    }
    // Periodic snapshots are written while the actor goes on (its state is never changed in
    // place, so the one taken stays as it was); the next waits for this one.
    if (
      cell.state !== undefined && cell.snapshotting === null &&
      cell.seq - cell.snapshotSeq >= this.#opts.snapshotEvery
    ) {
      void this.#snapshot(cell, false).catch((err) =>
        this.log.warn("snapshot failed", { ...cell.address, err })
      );
    }
  }

  #notify(address: ActorAddress, envelopes: readonly Envelope<unknown>[]): void {
    for (const l of this.#listeners) {
      try {
        l(address, envelopes);
      } catch (err) {
        this.#counters.dispatchErrors++;
        this.log.error("commit listener failed", { ...address, err });
      }
    }
  }

  /** Writes a snapshot of the actor as it is when the write starts, after any under way. */
  #snapshot(cell: Cell, clean: boolean): Promise<void> {
    const write = async () => {
      if (cell.state === undefined) return;
      const { entity } = cell;
      const seq = cell.seq;
      const stored = entity.toSnapshot ? entity.toSnapshot(cell.state) : cell.state;
      await this.journal.writeSnapshot(cell.address.type, cell.address.id, seq, stored, {
        clean,
        at: this.clock.now(),
        pruneEvents: !entity.retainEvents,
        checks: this.#fence?.(cell.address),
      });
      cell.snapshotSeq = Math.max(cell.snapshotSeq, seq);
      cell.cleanSeq = clean ? seq : -1;
    };
    // `snapshotting` only orders the writes (it never fails); the caller gets the outcome.
    const run = (cell.snapshotting ?? Promise.resolve()).then(write);
    const mine: Promise<void> = run.catch(() => {}).then(() => {
      if (cell.snapshotting === mine) cell.snapshotting = null;
    });
    cell.snapshotting = mine;
    return run;
  }

  async #passivate(cell: Cell): Promise<void> {
    const key = `${cell.address.type}\u0000${cell.address.id}`;
    // Running, or already passivated (a shutdown lists cells a sweep may be dropping).
    if (cell.running || this.#cells.get(key) !== cell) return;
    cell.running = true;
    try {
      if (cell.state !== undefined && cell.cleanSeq !== cell.seq) await this.#snapshot(cell, true);
    } catch (err) {
      this.log.warn("passivation snapshot failed; actor stays in memory", { ...cell.address, err });
      return;
    } finally {
      this.#letGo(cell);
    }
    if (cell.mailbox.isEmpty) {
      if (this.#cells.get(key) === cell) this.#cells.delete(key);
      this.#counters.passivations++;
    } else {
      this.#schedule(cell);
    }
  }

  /** The cell is no longer busy (a batch loop or a passivation): whoever waited for it goes on. */
  #letGo(cell: Cell): void {
    cell.running = false;
    for (const w of cell.idleWaiters.splice(0)) w();
  }

  #idle(cell: Cell): Promise<void> {
    if (!cell.running) return Promise.resolve();
    return new Promise((r) => cell.idleWaiters.push(r));
  }

  #runEffects(effects: readonly Effect[], from: ActorAddress): void {
    for (const effect of effects) {
      if (effect.kind === "tell") {
        this.#sendOwed(effect.to, effect.command, (effect as OwedTell).outboxKey);
      } else if (effect.kind === "timer") {
        this.#timers.set(this.#timerKey(from, effect.key), effect.delayMs, () => {
          if (!this.#closing) this.#deliver(from, effect.command, 0);
        });
      } else if (effect.kind === "cancel_timer") {
        this.#timers.cancel(this.#timerKey(from, effect.key));
      } else {
        try {
          this.#onEffect?.(effect, from);
        } catch (err) {
          this.#counters.dispatchErrors++;
          this.log.error("effect failed", { ...from, effect: effect.name, err });
        }
      }
    }
  }

  /** A tell effect (owed when it has a key): to its owner elsewhere, or delivered here. */
  #sendOwed(to: ActorAddress, command: unknown, outboxKey?: Deno.KvKey): void {
    if (outboxKey) {
      this.#owedInFlight.set(JSON.stringify(outboxKey), this.clock.now());
      if (this.#owedInFlight.size > MAX_OWED_TRACKED) {
        this.#owedInFlight.delete(this.#owedInFlight.keys().next().value!);
      }
    }
    if (!this.#forward?.(to, command, outboxKey)) this.#deliver(to, command, 0, outboxKey);
  }

  /**
   * Effect tells may use one extra mailbox-full of room, then retry with backoff. One that still
   * finds no room stays owed (when it has a record) and the sweep sends it again later.
   */
  #deliver(to: ActorAddress, command: unknown, attempt: number, outboxKey?: Deno.KvKey): void {
    const msg: Message = { command, settled: false, ...(outboxKey ? { outboxKey } : {}) };
    this.#enqueue(to.type, to.id, msg, this.#opts.mailboxCapacity);
    if (!msg.error) return;
    if (msg.error.code === "overloaded" && attempt < EFFECT_RETRY_MS.length) {
      this.clock.setTimeout(
        () => this.#deliver(to, command, attempt + 1, outboxKey),
        EFFECT_RETRY_MS[attempt],
      );
      return;
    }
    if (outboxKey) this.#owedInFlight.delete(JSON.stringify(outboxKey));
    this.#counters.dispatchErrors++;
    this.log.error("effect delivery failed", { ...to, code: msg.error.code, owed: !!outboxKey });
  }

  #timerKey(owner: ActorAddress, key: string): string {
    return `${owner.type}\u0000${owner.id}\u0000${key}`;
  }

  /** Actor timers pending (tests and diagnostics). */
  get pendingTimers(): number {
    return this.#timers.size;
  }

  #armOwedSweep(): void {
    const every = this.#owedSweepMs;
    if (every <= 0) return;
    this.#owedTimer = this.clock.setTimeout(() => {
      this.#owedTimer = null;
      this.redeliverOwed(this.#owns, every).catch((err) =>
        this.log.error("owed commands sweep failed", { err })
      ).finally(() => {
        if (!this.#closing) this.#armOwedSweep();
      });
    }, every);
  }

  /** Which senders' owed commands this system sends (cluster: the actors it owns). */
  #owns: (sender: ActorAddress) => boolean = () => true;

  /** Cluster: the sweep sends only what the actors owned here owe. */
  ownsSenders(owns: (sender: ActorAddress) => boolean): void {
    this.#owns = owns;
  }

  #armSweep(): void {
    const every = this.#opts.passivateAfterMs;
    if (every <= 0) return;
    this.#sweepTimer = this.clock.setTimeout(() => {
      this.#sweepTimer = null;
      this.sweep().catch((err) => this.log.error("sweep failed", { err })).finally(() => {
        if (!this.#closing) this.#armSweep();
      });
    }, Math.max(1000, Math.floor(every / 2)));
  }
}
