/**
 * Canned responses: ready-made answers admins keep over REST, stored in the shared KV. Every change
 * rewrites one version key in the same atomic, so any node learns that its copy is stale with one
 * read, and the key also holds the count that bounds the collection.
 */
import { AppError } from "../../errors.ts";
import { commitWithRetry, HINTS_PREFIX } from "./_kv.ts";

export interface CannedResponse {
  readonly id: string;
  readonly title: string;
  readonly text: string;
  readonly tags: readonly string[];
  readonly createdAt: number;
  readonly updatedAt: number;
}

export type CannedInput = Pick<CannedResponse, "title" | "text" | "tags">;

/** A support team's library is dozens to hundreds; the bound keeps the index and lists small. */
export const CANNED_MAX = 2000;

const itemKey = (id: string): Deno.KvKey => [...HINTS_PREFIX, "canned", id];
/** `{count}`; its versionstamp changes with every create, update and delete. */
export const CANNED_VERSION_KEY: Deno.KvKey = [...HINTS_PREFIX, "canned_ver"];

interface Version {
  count: number;
}

export class CannedStore {
  readonly #kv: Deno.Kv;
  readonly #now: () => number;
  readonly #max: number;

  constructor(kv: Deno.Kv, now: () => number, max = CANNED_MAX) {
    this.#kv = kv;
    this.#now = now;
    this.#max = max;
  }

  /** Every canned response, oldest first. */
  async list(): Promise<CannedResponse[]> {
    const out: CannedResponse[] = [];
    for await (const e of this.#kv.list<CannedResponse>({ prefix: [...HINTS_PREFIX, "canned"] })) {
      out.push(e.value);
    }
    return out.sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
  }

  async get(id: string): Promise<CannedResponse> {
    const e = await this.#kv.get<CannedResponse>(itemKey(id));
    if (!e.value) throw notFound(id);
    return e.value;
  }

  async create(input: CannedInput): Promise<CannedResponse> {
    const now = this.#now();
    const item: CannedResponse = {
      id: crypto.randomUUID(),
      ...input,
      createdAt: now,
      updatedAt: now,
    };
    await commitWithRetry(this.#kv, async (atomic) => {
      const ver = await this.#kv.get<Version>(CANNED_VERSION_KEY);
      const count = ver.value?.count ?? 0;
      if (count >= this.#max) {
        throw new AppError(
          "invalid_state",
          `There are already ${count} canned responses (the limit is ${this.#max}); delete some first`,
        );
      }
      atomic.check(ver).set(itemKey(item.id), item).set(CANNED_VERSION_KEY, { count: count + 1 });
      return true;
    });
    return item;
  }

  async update(id: string, input: CannedInput): Promise<CannedResponse> {
    let updated: CannedResponse | null = null;
    await commitWithRetry(this.#kv, async (atomic) => {
      const [cur, ver] = await this.#kv.getMany<[CannedResponse, Version]>([
        itemKey(id),
        CANNED_VERSION_KEY,
      ]);
      if (!cur.value) throw notFound(id);
      updated = { ...cur.value, ...input, updatedAt: this.#now() };
      atomic.check(cur, ver).set(itemKey(id), updated).set(CANNED_VERSION_KEY, {
        count: ver.value?.count ?? 1,
      });
      return true;
    });
    return updated!;
  }

  async delete(id: string): Promise<void> {
    await commitWithRetry(this.#kv, async (atomic) => {
      const [cur, ver] = await this.#kv.getMany<[CannedResponse, Version]>([
        itemKey(id),
        CANNED_VERSION_KEY,
      ]);
      if (!cur.value) throw notFound(id);
      atomic.check(cur, ver).delete(itemKey(id)).set(CANNED_VERSION_KEY, {
        count: Math.max(0, (ver.value?.count ?? 1) - 1),
      });
      return true;
    });
  }
}

function notFound(id: string): AppError {
  return new AppError("not_found", `No canned response ${id}`);
}
