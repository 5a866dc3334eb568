/**
 * Operator: one staff member (id = JWT `sub`): role, name, live connections and open chats.
 * Open chats are indexed (persistent sorted maps: by id and in the order they were opened), so
 * opening or closing one costs O(log k) even for a lawyer who holds thousands; snapshots store
 * the plain list (`OperatorView`), the shape every version stored.
 * Connections are counted per node boot (a cluster has several nodes). `connect` and `disconnect`
 * say which boots' counts are void, since a restarted or dead node's sockets are gone: either the
 * boots alive (`live`: one node knows only itself, so any other boot is over) or, in a cluster,
 * the boots known dead (`dead`: a node cannot know every live boot at every moment).
 * A connection that names itself (`connId`) is counted once however often its `connect` is
 * retried (a failover may retry one that timed out but landed) and uncounted once: the ids of the
 * counted connections are kept with their boot (`conns`), pruned with it, at most
 * {@link CONNS_MAX} (older ones then count without an id, as before ids existed).
 */
import { accept, type DecideContext, type Decision, type Entity } from "../src/runtime/entity.ts";
import type { StaffRole } from "../src/auth/principal.ts";
import { OPERATOR } from "./_common.ts";
import { compareStrings, SortedMap } from "./_sorted_map.ts";

// ---------------------------------------------------------------------------------------------
// State

export interface OperatorState {
  readonly id: string;
  /** Null until the first connect. */
  readonly role: StaffRole | null;
  readonly name?: string;
  readonly registeredAt: number | null;
  /** Open connections per node boot id. */
  readonly boots: Readonly<Record<string, number>>;
  /** Open connections over all live boots. */
  readonly connections: number;
  /** The counted connections that named themselves: connection id → boot id. */
  readonly conns?: Readonly<Record<string, string>>;
  /** Chats this operator owns, by chat id → the order they were opened in. */
  readonly openChats: SortedMap<string, number>;
  /** The same chats in the order they were opened. */
  readonly openOrder: SortedMap<number, string>;
  /** The next order number. */
  readonly opened: number;
  readonly lastActiveAt: number | null;
}

/** The operator as plain JSON: the `get` reply and the stored snapshot. */
export interface OperatorView {
  readonly id: string;
  readonly role: StaffRole | null;
  readonly name?: string;
  readonly registeredAt: number | null;
  readonly boots: Readonly<Record<string, number>>;
  readonly connections: number;
  readonly conns?: Readonly<Record<string, string>>;
  /** Chats this operator owns, in the order they were opened. */
  readonly openChats: string[];
  readonly lastActiveAt: number | null;
}

// ---------------------------------------------------------------------------------------------
// Commands and replies

/** Which boots' connection counts still stand (see the file's header). */
export interface BootView {
  readonly live?: string[];
  readonly dead?: string[];
}

export type OperatorCommand =
  | { type: "connect"; role: StaffRole; name?: string; bootId: string; connId?: string } & BootView
  | { type: "disconnect"; bootId: string; connId?: string } & BootView
  | { type: "chat_opened"; chatId: string }
  | { type: "chat_closed"; chatId: string }
  | { type: "get" };

/** Reply of each command, by command type. */
export interface OperatorReplies {
  connect: { openChats: string[]; connections: number };
  /** `connections`: over all live boots, this one included. */
  disconnect: { connections: number };
  chat_opened: { openChats: string[] };
  chat_closed: { openChats: string[] };
  get: OperatorView;
}

export type OperatorReply = OperatorReplies[keyof OperatorReplies];

// ---------------------------------------------------------------------------------------------
// Events

export type OperatorEvent =
  | { type: "registered"; role: StaffRole; name?: string; at: number }
  /** Without `live` and `dead` (older events): only `bootId` is alive. */
  | { type: "connected"; bootId: string; at: number; connId?: string } & BootView
  | { type: "disconnected"; bootId: string; at: number; connId?: string } & BootView
  | { type: "chat_opened"; chatId: string }
  | { type: "chat_closed"; chatId: string };

type Decided<K extends keyof OperatorReplies> = Decision<OperatorEvent, OperatorReplies[K]>;
type Cmd<K extends OperatorCommand["type"]> = Extract<OperatorCommand, { type: K }>;

// ---------------------------------------------------------------------------------------------
// Decide

function decide(
  state: OperatorState,
  cmd: OperatorCommand,
  ctx: DecideContext,
): Decision<OperatorEvent, OperatorReply> {
  switch (cmd.type) {
    case "connect":
      return connect(state, cmd, ctx);
    case "disconnect": {
      // Never counted here (its connect did not land, or its boot was pruned), or already gone.
      const unknown = cmd.connId !== undefined && state.conns?.[cmd.connId] !== cmd.bootId &&
        Object.keys(state.conns ?? {}).length < CONNS_MAX;
      if ((state.boots[cmd.bootId] ?? 0) === 0 || unknown) {
        return accept([], { connections: total(pruneBoots(state.boots, cmd)) });
      }
      const event: OperatorEvent = {
        type: "disconnected",
        bootId: cmd.bootId,
        at: ctx.now,
        ...bootView(cmd),
        ...(cmd.connId === undefined ? {} : { connId: cmd.connId }),
      };
      return accept([event], { connections: evolve(state, event).connections });
    }
    case "chat_opened":
    case "chat_closed":
      return openOrClose(state, cmd);
    case "get":
      return accept([], toView(state));
  }
}

function connect(
  state: OperatorState,
  cmd: Cmd<"connect">,
  ctx: DecideContext,
): Decided<"connect"> {
  const events: OperatorEvent[] = [];
  const renamed = cmd.name !== undefined && cmd.name !== state.name;
  if (state.registeredAt === null || cmd.role !== state.role || renamed) {
    events.push({
      type: "registered",
      role: cmd.role,
      ...(cmd.name === undefined ? {} : { name: cmd.name }),
      at: ctx.now,
    });
  }
  // A retried connect of a connection already counted: counted once.
  const counted = cmd.connId !== undefined && state.conns?.[cmd.connId] === cmd.bootId;
  if (!counted) {
    events.push({
      type: "connected",
      bootId: cmd.bootId,
      at: ctx.now,
      ...bootView(cmd),
      ...(cmd.connId === undefined ? {} : { connId: cmd.connId }),
    });
  }
  const after = events.reduce(evolve, state);
  return accept(events, { openChats: openList(after), connections: after.connections });
}

/** Idempotent: no event when the chat is already open (or already closed). */
function openOrClose(
  state: OperatorState,
  cmd: Cmd<"chat_opened" | "chat_closed">,
): Decided<"chat_opened" | "chat_closed"> {
  const isOpen = state.openChats.has(cmd.chatId);
  if (isOpen === (cmd.type === "chat_opened")) {
    return accept([], { openChats: openList(state) });
  }
  const event: OperatorEvent = { type: cmd.type, chatId: cmd.chatId };
  return accept([event], { openChats: openList(evolve(state, event)) });
}

// ---------------------------------------------------------------------------------------------
// Evolve

function evolve(state: OperatorState, event: OperatorEvent): OperatorState {
  switch (event.type) {
    case "registered":
      return {
        ...state,
        role: event.role,
        ...(event.name === undefined ? {} : { name: event.name }),
        registeredAt: state.registeredAt ?? event.at,
      };
    case "connected":
    case "disconnected": {
      const view = event.live || event.dead ? event : { live: [event.bootId] };
      const boots = pruneBoots(state.boots, view);
      const n = (boots[event.bootId] ?? 0) + (event.type === "connected" ? 1 : -1);
      if (n > 0) boots[event.bootId] = n;
      else delete boots[event.bootId];
      const conns = pruneConns(state.conns, boots);
      if (event.connId !== undefined) {
        if (event.type === "disconnected") delete conns[event.connId];
        else if (Object.keys(conns).length < CONNS_MAX) conns[event.connId] = event.bootId;
      }
      const { conns: _was, ...rest } = state;
      return {
        ...rest,
        boots,
        connections: total(boots),
        ...(Object.keys(conns).length > 0 ? { conns } : {}),
        lastActiveAt: event.at,
      };
    }
    case "chat_opened":
      if (state.openChats.has(event.chatId)) return state;
      return {
        ...state,
        openChats: state.openChats.set(event.chatId, state.opened),
        openOrder: state.openOrder.set(state.opened, event.chatId),
        opened: state.opened + 1,
      };
    case "chat_closed": {
      const at = state.openChats.get(event.chatId);
      if (at === undefined) return state;
      return {
        ...state,
        openChats: state.openChats.delete(event.chatId),
        openOrder: state.openOrder.delete(at),
      };
    }
  }
}

/** The open chats in the order they were opened. */
export function openList(state: OperatorState): string[] {
  return [...state.openOrder.values()];
}

const compareNumbers = (a: number, b: number) => a - b;

/** The operator as plain JSON (the `get` reply, and what a snapshot stores). */
export function toView(state: OperatorState): OperatorView {
  const { openChats: _i, openOrder: _o, opened: _n, ...rest } = state;
  return {
    ...rest,
    boots: { ...state.boots },
    ...(state.conns ? { conns: { ...state.conns } } : {}),
    openChats: openList(state),
  };
}

/** The operator from a stored snapshot (the plain view; its open chats a list in order). */
export function fromView(stored: unknown, id: string): OperatorState {
  const v = stored as Partial<OperatorView>;
  const list = Array.isArray(v.openChats) ? [...new Set(v.openChats)] : [];
  const { openChats: _l, ...rest } = v;
  return {
    ...initialState(id),
    ...rest,
    openChats: SortedMap.from(compareStrings, list.map((chatId, i) => [chatId, i] as const)),
    openOrder: SortedMap.fromSorted(compareNumbers, list.map((chatId, i) => [i, chatId] as const)),
    opened: list.length,
  };
}

/** The counts of the boots that still stand (a copy). */
function pruneBoots(boots: Readonly<Record<string, number>> | undefined, view: BootView) {
  const out: Record<string, number> = {};
  for (const [id, n] of Object.entries(boots ?? {})) {
    if (view.live && !view.live.includes(id)) continue;
    if (view.dead?.includes(id)) continue;
    out[id] = n;
  }
  return out;
}

/** The ids of counted connections whose boot still stands (a copy). */
function pruneConns(
  conns: Readonly<Record<string, string>> | undefined,
  boots: Readonly<Record<string, number>>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [conn, boot] of Object.entries(conns ?? {})) if (boot in boots) out[conn] = boot;
  return out;
}

/** Connection ids kept at most (an operator's open connections are far fewer). */
export const CONNS_MAX = 1000;

const total = (boots: Readonly<Record<string, number>>) =>
  Object.values(boots).reduce((a, b) => a + b, 0);

const bootView = (v: BootView): BootView => ({
  ...(v.live ? { live: v.live } : {}),
  ...(v.dead ? { dead: v.dead } : {}),
});

// ---------------------------------------------------------------------------------------------
// Entity

function initialState(id: string): OperatorState {
  return {
    id,
    role: null,
    registeredAt: null,
    boots: {},
    connections: 0,
    openChats: SortedMap.empty(compareStrings),
    openOrder: SortedMap.empty(compareNumbers),
    opened: 0,
    lastActiveAt: null,
  };
}

export type OperatorEntity = Entity<OperatorState, OperatorCommand, OperatorEvent, OperatorReply>;

export const operatorEntity: OperatorEntity = {
  type: OPERATOR,
  initialState,
  decide,
  evolve,
  toSnapshot: toView,
  fromSnapshot: fromView,
};
