/**
 * Operator: one staff member (id = JWT `sub`): role, name, live connections and open chats.
 * Connections are counted per node boot: a `connect` with a new `bootId` means the node restarted
 * and its earlier sockets are gone, so the count starts again at 1.
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
  /** Boot id of the node that counted {@link OperatorState.connections}. */
  readonly bootId: string | null;
  readonly connections: number;
  /** Chats this operator owns, in the order they were opened. */
  readonly openChats: readonly string[];
  readonly lastActiveAt: number | null;
}

// ---------------------------------------------------------------------------------------------
// Commands and replies

export type OperatorCommand =
  | { type: "connect"; role: StaffRole; name?: string; bootId: string }
  | { type: "disconnect"; bootId: string }
  | { type: "chat_opened"; chatId: string }
  | { type: "chat_closed"; chatId: string }
  | { type: "get" };

/** Reply of each command, by command type. */
export interface OperatorReplies {
  connect: { openChats: string[]; connections: number };
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
  | { type: "connected"; bootId: string; at: number }
  | { type: "disconnected"; bootId: string; at: number }
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
      if (cmd.bootId !== state.bootId || state.connections === 0) {
        return accept([], { connections: state.connections });
      }
      const event: OperatorEvent = { type: "disconnected", bootId: cmd.bootId, at: ctx.now };
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
  events.push({ type: "connected", bootId: cmd.bootId, at: ctx.now });
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
      return {
        ...state,
        bootId: event.bootId,
        // Another boot id: the node restarted, so the connections counted before are gone.
        connections: event.bootId === state.bootId ? state.connections + 1 : 1,
        lastActiveAt: event.at,
      };
    case "disconnected":
      return { ...state, connections: Math.max(0, state.connections - 1), lastActiveAt: event.at };
    case "chat_opened":
      if (state.openChats.includes(event.chatId)) return state;
      return { ...state, openChats: [...state.openChats, event.chatId] };
    case "chat_closed":
      return { ...state, openChats: state.openChats.filter((id) => id !== event.chatId) };
  }
}

// ---------------------------------------------------------------------------------------------
// Entity

function initialState(id: string): OperatorState {
  return {
    id,
    role: null,
    registeredAt: null,
    bootId: null,
    connections: 0,
    openChats: [],
    lastActiveAt: null,
  };
}

export type OperatorEntity = Entity<OperatorState, OperatorCommand, OperatorEvent, OperatorReply>;

export const operatorEntity: OperatorEntity = { type: OPERATOR, initialState, decide, evolve };
