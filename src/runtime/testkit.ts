/**
 * Test kit: runs one command against one actor on a real (in-memory) KV and reports the reply
 * or rejection, the events it stored and the state after it.
 */
import { AppError } from "../errors.ts";
import { ManualClock } from "./clock.ts";
import type { AnyEntity, CommandOf, Envelope, EventOf, ReplyOf, StateOf } from "./entity.ts";
import { ActorSystem, type ActorSystemOptions } from "./system.ts";

export interface RunResult<T extends AnyEntity> {
  readonly reply?: ReplyOf<T>;
  readonly error?: AppError;
  readonly events: EventOf<T>[];
  readonly state: StateOf<T>;
}

export class ActorTestKit<T extends AnyEntity> {
  readonly entity: T;
  readonly id: string;
  readonly clock: ManualClock;
  readonly kv: Deno.Kv;
  system: ActorSystem;
  #opts: Partial<ActorSystemOptions>;
  #captured: Envelope<EventOf<T>>[] = [];

  private constructor(
    entity: T,
    id: string,
    kv: Deno.Kv,
    clock: ManualClock,
    opts: Partial<ActorSystemOptions>,
  ) {
    this.entity = entity;
    this.id = id;
    this.kv = kv;
    this.clock = clock;
    this.#opts = opts;
    this.system = this.#start();
  }

  static async create<T extends AnyEntity>(
    entity: T,
    id = "t-1",
    opts: Partial<ActorSystemOptions> = {},
  ): Promise<ActorTestKit<T>> {
    const kv = await Deno.openKv(":memory:");
    return new ActorTestKit(entity, id, kv, new ManualClock(), opts);
  }

  #start(): ActorSystem {
    const system = new ActorSystem({
      passivateAfterMs: 0,
      ...this.#opts,
      kv: this.kv,
      clock: this.clock,
      entities: [this.entity, ...(this.#opts.entities ?? [])],
    });
    system.onCommitted((addr, envs) => {
      if (addr.type === this.entity.type && addr.id === this.id) {
        this.#captured.push(...(envs as Envelope<EventOf<T>>[]));
      }
    });
    return system;
  }

  /** Runs one command; never throws for a rejection (it is returned as `error`). */
  async run(command: CommandOf<T>): Promise<RunResult<T>> {
    const before = this.#captured.length;
    let reply: ReplyOf<T> | undefined;
    let error: AppError | undefined;
    try {
      reply = await this.system.ask(this.entity, this.id, command);
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      error = err;
    }
    const events = this.#captured.slice(before).map((e) => e.event);
    return { reply, error, events, state: this.state() };
  }

  /** The actor's current in-memory state (recovering it first if needed). */
  state(): StateOf<T> {
    const live = this.system.inspect(this.entity.type, this.id);
    if (!live) throw new Error(`Actor ${this.entity.type} ${this.id} is not in memory`);
    return live.state as StateOf<T>;
  }

  /**
   * The actor's state once it has handled everything sent to it so far: after the clock moved,
   * its timers' commands are in the mailbox or their batch is still committing.
   */
  async settled(): Promise<StateOf<T>> {
    await this.system.settled(this.entity.type, this.id);
    return this.state();
  }

  /** Drops the system (no snapshot) and starts a new one on the same KV, as after a crash. */
  restart(): void {
    this.system = this.#start();
  }

  async close(): Promise<void> {
    await this.system.shutdown();
    this.kv.close();
  }
}
