/**
 * Operator: one staff member (id = JWT `sub`): role, name, live connections and open chats.
 * Connections are counted per node boot (a cluster has several nodes). `connect` and `disconnect`
 * say which boots' counts are void, since a restarted or dead node's sockets are gone: either the
 * boots alive (`live`: one node knows only itself, so any other boot is over) or, in a cluster,
 * the boots known dead (`dead`: a node cannot know every live boot at every moment).
 */
import { accept, type DecideContext, type Decision, type Entity } from "../src/runtime/entity.ts";
import type { StaffRole } from "../src/auth/principal.ts";
import { OPERATOR } from "./_common.ts";

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
  /** Chats this operator owns, in the order they were opened. */
  readonly openChats: readonly string[];
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
  | { type: "connect"; role: StaffRole; name?: string; bootId: string } & BootView
  | { type: "disconnect"; bootId: string } & BootView
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
  get: OperatorState;
}

export type OperatorReply = OperatorReplies[keyof OperatorReplies];

// ---------------------------------------------------------------------------------------------
// Events

export type OperatorEvent =
  | { type: "registered"; role: StaffRole; name?: string; at: number }
  /** Without `live` and `dead` (older events): only `bootId` is alive. */
  | { type: "connected"; bootId: string; at: number } & BootView
  | { type: "disconnected"; bootId: string; at: number } & BootView
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
      if ((state.boots[cmd.bootId] ?? 0) === 0) {
        return accept([], { connections: total(pruneBoots(state.boots, cmd)) });
      }
      const event: OperatorEvent = {
        type: "disconnected",
        bootId: cmd.bootId,
        at: ctx.now,
        ...bootView(cmd),
      };
      return accept([event], { connections: evolve(state, event).connections });
    }
    case "chat_opened":
    case "chat_closed":
      return openOrClose(state, cmd);
    case "get":
      return accept([], { ...state, openChats: [...state.openChats] });
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
  events.push({
    type: "connected",
    bootId: cmd.bootId,
    at: ctx.now,
    ...bootView(cmd),
  });
  const after = events.reduce(evolve, state);
  return accept(events, { openChats: [...after.openChats], connections: after.connections });
}

/** Idempotent: no event when the chat is already open (or already closed). */
function openOrClose(
  state: OperatorState,
  cmd: Cmd<"chat_opened" | "chat_closed">,
): Decided<"chat_opened" | "chat_closed"> {
  const isOpen = state.openChats.includes(cmd.chatId);
  if (isOpen === (cmd.type === "chat_opened")) {
    return accept([], { openChats: [...state.openChats] });
  }
  const event: OperatorEvent = { type: cmd.type, chatId: cmd.chatId };
  return accept([event], { openChats: [...evolve(state, event).openChats] });
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
      return { ...state, boots, connections: total(boots), lastActiveAt: event.at };
    }
    case "chat_opened":
      if (state.openChats.includes(event.chatId)) return state;
      return { ...state, openChats: [...state.openChats, event.chatId] };
    case "chat_closed":
      return { ...state, openChats: state.openChats.filter((id) => id !== event.chatId) };
  }
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
    openChats: [],
    lastActiveAt: null,
  };
}

export type OperatorEntity = Entity<OperatorState, OperatorCommand, OperatorEvent, OperatorReply>;

export const operatorEntity: OperatorEntity = { type: OPERATOR, initialState, decide, evolve };
