/**
 * Display names of staff members (the `name` claim of their token, kept by their operator actor),
 * for frames that show who took a chat (`operator_name`: "Anna from support"), transcripts and
 * the roster. A node remembers the names it sees (staff connecting here, operator actors living
 * here) and asks an operator actor for the others; a staff member without a name stays unnamed
 * until one connects with a token that carries it.
 */
import { operatorEntity, type OperatorState } from "../../actors/operator.ts";
import type { ActorRouter } from "../runtime/system.ts";

/** Names remembered per node; past it the oldest are forgotten (and asked for again). */
const MAX_NAMES = 10_000;

export class StaffNames {
  readonly #router: ActorRouter;
  /** id → name, or null when the staff member is known to have none. */
  readonly #names = new Map<string, string | null>();

  constructor(router: ActorRouter) {
    this.#router = router;
  }

  /** The name, if known here (no lookup). */
  cached(id: string): string | undefined {
    return this.#names.get(id) ?? undefined;
  }

  /** Whether the name (or its absence) is known here. */
  has(id: string): boolean {
    return this.#names.has(id);
  }

  /** A name seen in a token or an operator's state (undefined: none known). */
  remember(id: string, name: string | undefined): void {
    const had = this.#names.get(id);
    if (name === undefined && had !== undefined) return; // a token without a name renames nobody
    this.#names.delete(id);
    this.#names.set(id, name ?? null);
    if (this.#names.size > MAX_NAMES) this.#names.delete(this.#names.keys().next().value!);
  }

  /** Looks up the names not known here yet; a failed lookup leaves the name unknown. */
  async load(ids: Iterable<string>): Promise<void> {
    const missing = [...new Set(ids)].filter((id) => !this.#names.has(id));
    await Promise.all(missing.map(async (id) => {
      try {
        const state = await this.#router.ask(operatorEntity, id, { type: "get" }) as OperatorState;
        this.remember(id, state.name);
      } catch {
        // Unreachable for now (a moving partition): the frame goes without the name.
      }
    }));
  }

  /** The name after a lookup (undefined when the staff member has none). */
  async nameOf(id: string): Promise<string | undefined> {
    await this.load([id]);
    return this.cached(id);
  }
}
