/**
 * Past operator answers: when a chat closes, its (client question → operator answer) pairs are
 * extracted and appended to a bounded log in the shared KV. Pairs are numbered by a counter that
 * every append moves in the same atomic, so a node that has seen pairs up to `n` fetches only what
 * follows, and the oldest pairs past the bound are deleted (evicted) as new ones arrive.
 */
import type { SessionEvent } from "../../../actors/session.ts";
import { commitWithRetry, HINTS_PREFIX } from "./_kv.ts";

export interface QaPair {
  readonly question: string;
  readonly answer: string;
}

export interface StoredPair extends QaPair {
  readonly n: number;
  readonly chatId: string;
  readonly at: number;
}

/** Pairs kept from one chat: its last few exchanges carry the answer that solved the problem. */
export const PAIRS_PER_CHAT = 5;
const QUESTION_CHARS = 500;
const ANSWER_CHARS = 1000;

/** The last pair number handed out (a plain number; moved by every append). */
export const HISTORY_COUNTER_KEY: Deno.KvKey = [...HINTS_PREFIX, "hist_n"];
const pairKey = (n: number): Deno.KvKey => [...HINTS_PREFIX, "hist", n];
/** Marks a chat whose pairs are stored, so a repeated `closed` does not add them twice. */
const chatKey = (chatId: string): Deno.KvKey => [...HINTS_PREFIX, "hist_chat", chatId];

/**
 * The chat's exchanges: the client's messages since the last staff reply form a question, the
 * staff messages that follow form its answer. Bot answers and greetings before any question are
 * not operator answers and are skipped. Keeps the last {@link PAIRS_PER_CHAT}.
 */
export function extractPairs(events: readonly SessionEvent[]): QaPair[] {
  const pairs: QaPair[] = [];
  let question: string[] = [];
  let answer: string[] = [];
  const flush = () => {
    if (question.length && answer.length) {
      pairs.push({
        question: question.join(" ").slice(-QUESTION_CHARS),
        answer: answer.join("\n").slice(0, ANSWER_CHARS),
      });
    }
    question = [];
    answer = [];
  };
  for (const e of events) {
    if (e.type !== "message") continue;
    const text = e.text.trim();
    if (!text) continue; // attachments only
    if (e.senderRole === "client") {
      if (answer.length) flush();
      question.push(text);
    } else if (question.length && e.senderId !== "system") {
      answer.push(text);
    }
  }
  flush();
  return pairs.slice(-PAIRS_PER_CHAT);
}

export class HistoryStore {
  readonly #kv: Deno.Kv;
  readonly #max: number;

  /** `max`: pairs kept; older ones are deleted as new ones are appended. */
  constructor(kv: Deno.Kv, max: number) {
    this.#kv = kv;
    this.#max = max;
  }

  get max(): number {
    return this.#max;
  }

  /**
   * Appends a closed chat's pairs (once per chat: a repeated call stores nothing) and evicts what
   * falls past the bound. Returns the stored pairs.
   */
  async append(chatId: string, pairs: readonly QaPair[], at: number): Promise<StoredPair[]> {
    if (pairs.length === 0) return [];
    let stored: StoredPair[] = [];
    await commitWithRetry(this.#kv, async (atomic) => {
      const [counter, seen] = await this.#kv.getMany<[number, number]>([
        HISTORY_COUNTER_KEY,
        chatKey(chatId),
      ]);
      if (seen.value !== null) {
        stored = [];
        return false;
      }
      const first = (counter.value ?? 0) + 1;
      stored = pairs.map((p, i) => ({ ...p, n: first + i, chatId, at }));
      atomic.check(counter, seen);
      for (const s of stored) atomic.set(pairKey(s.n), s);
      atomic.set(HISTORY_COUNTER_KEY, first + stored.length - 1).set(chatKey(chatId), first);
      return true;
    });
    if (stored.length) await this.#evict(stored[stored.length - 1].n);
    return stored;
  }

  /** The last pair number handed out (0 before the first). */
  async counter(): Promise<number> {
    return (await this.#kv.get<number>(HISTORY_COUNTER_KEY)).value ?? 0;
  }

  /** Pairs numbered after `after`, within the bound, oldest first. */
  async readAfter(after: number, counter: number): Promise<StoredPair[]> {
    const from = Math.max(after, counter - this.#max) + 1;
    const out: StoredPair[] = [];
    if (from > counter) return out;
    const iter = this.#kv.list<StoredPair>({
      start: pairKey(from),
      end: pairKey(counter + 1),
    });
    for await (const e of iter) out.push(e.value);
    return out;
  }

  /** Deletes pairs (and their chats' marks) numbered `counter - max` and below. */
  async #evict(counter: number): Promise<void> {
    const last = counter - this.#max;
    if (last < 1) return;
    const doomed: StoredPair[] = [];
    for await (
      const e of this.#kv.list<StoredPair>({
        start: pairKey(0),
        end: pairKey(last + 1),
      })
    ) doomed.push(e.value);
    // Batches well under KV's 1000 mutations per atomic; two keys per pair.
    for (let i = 0; i < doomed.length; i += 200) {
      let op = this.#kv.atomic();
      for (const p of doomed.slice(i, i + 200)) {
        op = op.delete(pairKey(p.n)).delete(chatKey(p.chatId));
      }
      await op.commit();
    }
  }
}

/**
 * What the client is asking now: their messages since the last staff reply, or their last message
 * when staff already answered. Empty when the client wrote nothing.
 */
export function lastClientQuestion(events: readonly SessionEvent[]): string {
  let pending: string[] = [];
  let last = "";
  for (const e of events) {
    if (e.type !== "message" || !e.text.trim()) continue;
    if (e.senderRole === "client") {
      pending.push(e.text.trim());
      last = e.text.trim();
    } else if (e.senderId !== "system") {
      pending = [];
    }
  }
  return (pending.length ? pending.join(" ") : last).slice(-QUESTION_CHARS);
}
