/**
 * The queue's indexed state: persistent sorted maps (actors/_sorted_map.ts), so that every event
 * costs O(log n) in the number of waiting chats, active chats and operators, while decide and
 * evolve stay pure (nothing is ever changed in place; an update returns a new state sharing all
 * but one path per index with the old one). The pure updaters here are what `_queue_evolve.ts`
 * composes; the accessors are what everything else reads (never the maps themselves).
 *
 * Indexes, kept in step by the updaters:
 * - waiting chats by id, in service order, and those without an open offer (auto routing offers
 *   the first of these next);
 * - open offers by operator; active chats by id, in the order they were taken, and by operator;
 * - the roster by id, and the operators an offer may go to now, best first (fewest open chats,
 *   then longest idle, then id): the order `pickOperator` wants.
 */
import { compareStrings, SortedMap } from "./_sorted_map.ts";
import type {
  ActiveChat,
  OperatorSlot,
  QueueState,
  RoutingConfig,
  WaitingChat,
} from "./_queue_types.ts";

/** A waiting chat as stored: `order` (arrival, unique) breaks ties of the service order. */
export interface WaitingEntry extends WaitingChat {
  readonly order: number;
}

/** A taken chat as stored: `since` (unique, increasing) is the order chats were taken in. */
export interface ActiveEntry extends ActiveChat {
  readonly since: number;
}

/** An operator an offer may go to, as the key of the `free` index. */
export interface FreeKey {
  readonly load: number;
  readonly idleSince: number;
  readonly id: string;
}

/** Priority first (higher first), then chats returned to the queue, then oldest, then arrival. */
export function compareWaiting(a: WaitingEntry, b: WaitingEntry): number {
  return b.priority - a.priority ||
    (a.requeued === b.requeued ? 0 : a.requeued ? -1 : 1) ||
    a.enqueuedAt - b.enqueuedAt ||
    a.order - b.order;
}

const compareFree = (a: FreeKey, b: FreeKey) =>
  a.load - b.load || a.idleSince - b.idleSince || compareStrings(a.id, b.id);
const comparePair = (a: readonly [string, string], b: readonly [string, string]) =>
  compareStrings(a[0], b[0]) || compareStrings(a[1], b[1]);
const compareOpSince = (a: readonly [string, number], b: readonly [string, number]) =>
  compareStrings(a[0], b[0]) || a[1] - b[1];
const compareNumbers = (a: number, b: number) => a - b;

export const emptyIndexes = () => ({
  waitingById: SortedMap.empty<string, WaitingEntry>(compareStrings),
  waitingOrder: SortedMap.empty<WaitingEntry, string>(compareWaiting),
  unoffered: SortedMap.empty<WaitingEntry, string>(compareWaiting),
  offers: SortedMap.empty<readonly [string, string], true>(comparePair),
  active: SortedMap.empty<string, ActiveEntry>(compareStrings),
  activeOrder: SortedMap.empty<number, string>(compareNumbers),
  activeByOperator: SortedMap.empty<readonly [string, number], string>(compareOpSince),
  operators: SortedMap.empty<string, OperatorSlot>(compareStrings),
  free: SortedMap.empty<FreeKey, true>(compareFree),
});

// ---------------------------------------------------------------------------------------------
// Policy the indexes depend on

export function capacityOf(state: { config: RoutingConfig }, slot: OperatorSlot): number {
  return slot.capacity ?? state.config.defaultCapacity;
}

/** Online, connected, with room for one more chat. */
export function canTakeMore(
  state: { config: RoutingConfig },
  slot: OperatorSlot | undefined,
): boolean {
  return slot !== undefined && slot.status === "online" && slot.connected &&
    slot.load < capacityOf(state, slot);
}

/** Offers go to operators only; admins and lawyers take chats by hand if at all. */
const offerable = (config: RoutingConfig, slot: OperatorSlot) =>
  slot.role === "operator" && canTakeMore({ config }, slot);

const freeKey = (id: string, slot: OperatorSlot): FreeKey => ({
  load: slot.load,
  idleSince: slot.idleSince,
  id,
});

// ---------------------------------------------------------------------------------------------
// Accessors

export function waitingOf(state: QueueState, chatId: string): WaitingEntry | undefined {
  return state.waitingById.get(chatId);
}

/** The owner record of a taken chat. */
export function activeOf(state: QueueState, chatId: string): ActiveEntry | undefined {
  return state.active.get(chatId);
}

/** The roster entry of an operator. */
export function slotOf(state: QueueState, operatorId: string): OperatorSlot | undefined {
  return state.operators.get(operatorId);
}

export const waitingCount = (state: QueueState) => state.waitingById.size;
export const activeCount = (state: QueueState) => state.active.size;

/** 1-based place of a waiting chat, or 0 when it is not waiting. O(log n). */
export function queuePosition(state: QueueState, chatId: string): number {
  const w = state.waitingById.get(chatId);
  return w === undefined ? 0 : state.waitingOrder.indexOf(w) + 1;
}

/** Waiting chats in service order, from 0-based place `offset` (lazy). */
export function* waitingChats(state: QueueState, offset = 0): Generator<WaitingEntry> {
  for (const [w] of state.waitingOrder.entries(offset)) yield w;
}

/** At most `limit` waiting chats in service order from place `offset`: O(log n + limit). */
export function waitingPage(state: QueueState, offset: number, limit: number): WaitingEntry[] {
  const out: WaitingEntry[] = [];
  if (limit <= 0) return out;
  for (const w of waitingChats(state, offset)) {
    out.push(w);
    if (out.length >= limit) break;
  }
  return out;
}

/** Taken chats in the order they were taken, from place `offset` (lazy). */
export function* activeChats(state: QueueState, offset = 0): Generator<[string, ActiveEntry]> {
  for (const [, chatId] of state.activeOrder.entries(offset)) {
    yield [chatId, state.active.get(chatId)!];
  }
}

/** The chats an operator holds, in the order they were taken. O(log n + k). */
export function activeChatsOf(state: QueueState, operatorId: string): string[] {
  const out: string[] = [];
  for (const [[op], chatId] of state.activeByOperator.entriesFrom([operatorId, -Infinity])) {
    if (op !== operatorId) break;
    out.push(chatId);
  }
  return out;
}

/** The chats offered to an operator, in service order. */
export function offersOf(state: QueueState, operatorId: string): string[] {
  const out: WaitingEntry[] = [];
  for (const [[op, chatId]] of state.offers.entriesFrom([operatorId, ""])) {
    if (op !== operatorId) break;
    out.push(state.waitingById.get(chatId)!);
  }
  return out.sort(compareWaiting).map((w) => w.chatId);
}

/** Every roster entry, by operator id. */
export function* operatorSlots(state: QueueState): Generator<[string, OperatorSlot]> {
  yield* state.operators.entries();
}

/** Operators an offer may go to now, best first. */
export function* freeOperators(state: QueueState): Generator<string> {
  for (const k of state.free.keys()) yield k.id;
}

/** Some operator could be offered a chat now (online, connected, below capacity). O(1). */
export const anyOperatorFree = (state: QueueState) => state.free.size > 0;

// ---------------------------------------------------------------------------------------------
// Updaters (pure: each returns a new state)

/** Adds a waiting chat (or puts it back at its new place), as arrival number `counter`. */
export function putWaiting(state: QueueState, chat: WaitingChat): QueueState {
  const s = dropWaiting(state, chat.chatId);
  const w: WaitingEntry = { ...chat, order: s.counter };
  return {
    ...s,
    counter: s.counter + 1,
    waitingById: s.waitingById.set(w.chatId, w),
    waitingOrder: s.waitingOrder.set(w, w.chatId),
    unoffered: w.offer ? s.unoffered : s.unoffered.set(w, w.chatId),
    offers: w.offer ? s.offers.set([w.offer.operatorId, w.chatId], true) : s.offers,
  };
}

/** Removes a waiting chat (and its offer) if it is there. */
export function dropWaiting(state: QueueState, chatId: string): QueueState {
  const w = state.waitingById.get(chatId);
  if (w === undefined) return state;
  return {
    ...state,
    waitingById: state.waitingById.delete(chatId),
    waitingOrder: state.waitingOrder.delete(w),
    unoffered: state.unoffered.delete(w),
    offers: w.offer ? state.offers.delete([w.offer.operatorId, chatId]) : state.offers,
  };
}

/** Changes fields of a waiting chat that do not move it (its offer, who declined it). */
export function patchWaiting(
  state: QueueState,
  chatId: string,
  patch: Pick<Partial<WaitingChat>, "offer" | "declined">,
): QueueState {
  const old = state.waitingById.get(chatId)!;
  const w: WaitingEntry = { ...old, ...patch };
  let offers = state.offers;
  if (old.offer) offers = offers.delete([old.offer.operatorId, chatId]);
  if (w.offer) offers = offers.set([w.offer.operatorId, chatId], true);
  return {
    ...state,
    waitingById: state.waitingById.set(chatId, w),
    // An equal key is replaced, so the ordered indexes always hold the current entry.
    waitingOrder: state.waitingOrder.set(w, chatId),
    unoffered: w.offer ? state.unoffered.delete(old) : state.unoffered.set(w, chatId),
    offers,
  };
}

/** Sets the owner record of a taken chat; a new one is taken now (`since` = next number). */
export function putActive(state: QueueState, chatId: string, chat: ActiveChat): QueueState {
  const old = state.active.get(chatId);
  const since = old?.since ?? state.counter;
  const a: ActiveEntry = { ...chat, since };
  let byOp = state.activeByOperator;
  if (old) byOp = byOp.delete([old.operatorId, since]);
  return {
    ...state,
    counter: old ? state.counter : state.counter + 1,
    active: state.active.set(chatId, a),
    activeOrder: old ? state.activeOrder : state.activeOrder.set(since, chatId),
    activeByOperator: byOp.set([a.operatorId, since], chatId),
  };
}

export function dropActive(state: QueueState, chatId: string): QueueState {
  const a = state.active.get(chatId);
  if (a === undefined) return state;
  return {
    ...state,
    active: state.active.delete(chatId),
    activeOrder: state.activeOrder.delete(a.since),
    activeByOperator: state.activeByOperator.delete([a.operatorId, a.since]),
  };
}

/** Sets a roster entry, keeping the index of operators an offer may go to in step. */
export function putSlot(state: QueueState, operatorId: string, slot: OperatorSlot): QueueState {
  const old = state.operators.get(operatorId);
  let free = state.free;
  if (old && offerable(state.config, old)) free = free.delete(freeKey(operatorId, old));
  if (offerable(state.config, slot)) free = free.set(freeKey(operatorId, slot), true);
  return { ...state, operators: state.operators.set(operatorId, slot), free };
}

/** Changes a known operator's roster entry; an unknown id changes nothing. */
export function patchSlot(
  state: QueueState,
  operatorId: string,
  patch: (slot: OperatorSlot) => Partial<OperatorSlot>,
): QueueState {
  const slot = state.operators.get(operatorId);
  return slot ? putSlot(state, operatorId, { ...slot, ...patch(slot) }) : state;
}

/** The routing settings, and the `free` index again (capacities may have changed). */
export function withConfig(state: QueueState, config: RoutingConfig): QueueState {
  const free = [...state.operators.entries()]
    .filter(([, slot]) => offerable(config, slot))
    .map(([id, slot]) => [freeKey(id, slot), true] as const)
    .sort((a, b) => compareFree(a[0], b[0]));
  return { ...state, config, free: SortedMap.fromSorted(compareFree, free) };
}

// ---------------------------------------------------------------------------------------------
// The last N values, appended in O(N / chunk) rather than O(N)

/** Values oldest first, in chunks of at most {@link CHUNK}: plain JSON-ready arrays. */
export type RecentWindow = readonly (readonly number[])[];
const CHUNK = 50;

/** Appends `value`, keeping at least the last `limit` values (at most `limit + CHUNK - 1`). */
export function pushRecent(w: RecentWindow, value: number, limit: number): RecentWindow {
  const last = w[w.length - 1];
  const next = last && last.length < CHUNK
    ? [...w.slice(0, -1), [...last, value]]
    : [...w, [value]];
  let total = next.reduce((n, c) => n + c.length, 0);
  let drop = 0;
  while (total - next[drop].length >= limit) total -= next[drop++].length;
  return drop > 0 ? next.slice(drop) : next;
}

/** The last `limit` values, oldest first. */
export function recentValues(w: RecentWindow, limit: number): number[] {
  return w.flat().slice(-limit);
}
