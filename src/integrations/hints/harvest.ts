/**
 * Harvests past operator answers: when a chat closes (on the node that owns it), its stored events
 * are read, the question → answer pairs extracted and appended to the shared history. The work is
 * queued (bounded) so the chat's event listener returns at once. History is derived data, so a
 * harvest lost to a full queue or a crash costs one chat's hints, never a chat message.
 */
import type { SessionEvent } from "../../../actors/session.ts";
import type { Logger } from "../../log.ts";
import type { Envelope } from "../../runtime/entity.ts";
import { extractPairs, type HistoryStore, type StoredPair } from "./history.ts";

export type ReadEvents = (
  chatId: string,
  afterSeq: number,
  limit: number,
) => Promise<Envelope<SessionEvent>[]>;

/** Closed chats waiting to be harvested; more are dropped (and logged). */
export const HARVEST_QUEUE_MAX = 256;
const PAGE = 500;
/** Events read from one chat at most: a very long chat's first part is rarely the answer. */
const MAX_EVENTS = 10_000;

/** Every stored event of a chat, oldest first, up to `max`. */
export async function readChat(
  read: ReadEvents,
  chatId: string,
  max = MAX_EVENTS,
): Promise<SessionEvent[]> {
  const out: SessionEvent[] = [];
  let after = 0;
  while (out.length < max) {
    const page = await read(chatId, after, Math.min(PAGE, max - out.length));
    for (const env of page) out.push(env.event);
    if (page.length < PAGE) break;
    after = page[page.length - 1].seq;
  }
  return out;
}

export interface HarvesterOptions {
  readonly read: ReadEvents;
  readonly history: HistoryStore;
  readonly now: () => number;
  readonly log: Logger;
  /** Called after pairs were stored (the catalog refreshes this node's index). */
  readonly onStored: (pairs: StoredPair[]) => Promise<void> | void;
}

export class Harvester {
  readonly #o: HarvesterOptions;
  readonly #queue: string[] = [];
  #working: Promise<void> | null = null;
  #stopped = false;
  /** Closed chats not harvested because the queue was full. */
  dropped = 0;

  constructor(o: HarvesterOptions) {
    this.#o = o;
  }

  /** Queues a closed chat; returns at once. */
  add(chatId: string): void {
    if (this.#stopped) return;
    if (this.#queue.length >= HARVEST_QUEUE_MAX) {
      this.dropped++;
      this.#o.log.warn("hints: harvest queue full; chat not added to history", { chatId });
      return;
    }
    this.#queue.push(chatId);
    this.#kick();
  }

  #kick(): void {
    this.#working ??= this.#drain().finally(() => {
      this.#working = null;
      // A chat added between the drain's last look at the queue and here found it still working.
      if (this.#queue.length && !this.#stopped) this.#kick();
    });
  }

  /** Resolves when every queued chat is harvested (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.#working) await this.#working;
  }

  /** Takes no more chats and waits for the queued ones. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.idle();
  }

  async #drain(): Promise<void> {
    for (let chatId = this.#queue.shift(); chatId; chatId = this.#queue.shift()) {
      try {
        await this.harvest(chatId);
      } catch (err) {
        this.#o.log.warn("hints: harvest failed", { chatId, err });
      }
    }
  }

  /** Extracts and stores one chat's pairs (once per chat). */
  async harvest(chatId: string): Promise<StoredPair[]> {
    const pairs = extractPairs(await readChat(this.#o.read, chatId));
    const stored = await this.#o.history.append(chatId, pairs, this.#o.now());
    if (stored.length) await this.#o.onStored(stored);
    return stored;
  }
}
