/**
 * Queue: the chats waiting in one department (id = queue name) and the owner of each taken chat.
 * It is the single writer of assignments: the check that a chat is free and the claim are one
 * `decide`, so a chat has at most one owner however many operators accept it at the same instant.
 * The session learns its owner through an `assign` effect and answers `release` once it closes.
 */
import {
  accept,
  type DecideContext,
  type Decision,
  type Effect,
  type Entity,
  type RecoverContext,
  reject,
  tell,
} from "../src/runtime/entity.ts";
import { QUEUE, queueCaller, SESSION } from "./_common.ts";

/** How many recent wait durations the state keeps for estimates. */
export const RECENT_WAITS_LIMIT = 100;

// ---------------------------------------------------------------------------------------------
// State

export interface WaitingChat {
  readonly chatId: string;
  readonly clientId: string;
  readonly priority: number;
  readonly enqueuedAt: number;
}

export interface ActiveChat {
  readonly operatorId: string;
  readonly assignedAt: number;
}

export interface QueueState {
  readonly name: string;
  /** Higher priority first, then the longest waiting first. */
  readonly waiting: readonly WaitingChat[];
  /** Owner of each taken chat, by chat id. */
  readonly active: Readonly<Record<string, ActiveChat>>;
  readonly servedCount: number;
  /** The last {@link RECENT_WAITS_LIMIT} waits in ms, oldest first. */
  readonly recentWaits: readonly number[];
}

// ---------------------------------------------------------------------------------------------
// Commands and replies

export type QueueCommand =
  | { type: "enqueue"; chatId: string; clientId: string; priority: number; enqueuedAt: number }
  | { type: "claim"; chatId: string; operatorId: string }
  | { type: "release"; chatId: string; reason: string }
  | { type: "snapshot" }
  | { type: "activeFor"; operatorId: string };

/** Reply of each command, by command type. */
export interface QueueReplies {
  /** 1-based place in the queue; 0 when the chat is already taken. */
  enqueue: { position: number };
  claim: { chatId: string; operatorId: string };
  release: { released: boolean };
  snapshot: { waiting: WaitingChat[]; active: Record<string, ActiveChat> };
  /** Ids of the chats the operator owns in this queue. */
  activeFor: string[];
}

export type QueueReply = QueueReplies[keyof QueueReplies];

// ---------------------------------------------------------------------------------------------
// Events

export type QueueEvent =
  | { type: "enqueued"; chatId: string; clientId: string; priority: number; enqueuedAt: number }
  | { type: "claimed"; chatId: string; operatorId: string; waitedMs: number; at: number }
  /** `from`: where the chat was, so views know whether it left the waiting list. */
  | { type: "released"; chatId: string; reason: string; from: "waiting" | "active" };

type Decided<K extends keyof QueueReplies> = Decision<QueueEvent, QueueReplies[K]>;
type Cmd<K extends QueueCommand["type"]> = Extract<QueueCommand, { type: K }>;

// ---------------------------------------------------------------------------------------------
// Policies

/** 1-based place of a waiting chat; 0 when it is not waiting. */
export function queuePosition(state: QueueState, chatId: string): number {
  return state.waiting.findIndex((w) => w.chatId === chatId) + 1;
}

/** Whether `a` is served before `b`: higher priority first, then the one waiting longer. */
function servedBefore(a: WaitingChat, b: WaitingChat): boolean {
  return a.priority > b.priority || (a.priority === b.priority && a.enqueuedAt < b.enqueuedAt);
}

/** The command that makes a session take its owner; sessions accept it again idempotently. */
function assignEffect(state: QueueState, chatId: string, operatorId: string, reason: string) {
  return tell(SESSION, chatId, {
    type: "assign",
    by: queueCaller(state.name),
    operatorId,
    reason,
  });
}

// ---------------------------------------------------------------------------------------------
// Decide

function decide(
  state: QueueState,
  cmd: QueueCommand,
  ctx: DecideContext,
): Decision<QueueEvent, QueueReply> {
  switch (cmd.type) {
    case "enqueue":
      return enqueue(state, cmd);
    case "claim":
      return claim(state, cmd, ctx);
    case "release": {
      const waiting = queuePosition(state, cmd.chatId) > 0;
      if (!waiting && !Object.hasOwn(state.active, cmd.chatId)) {
        return accept([], { released: false });
      }
      const event: QueueEvent = {
        type: "released",
        chatId: cmd.chatId,
        reason: cmd.reason,
        from: waiting ? "waiting" : "active",
      };
      return accept([event], { released: true });
    }
    case "snapshot":
      return accept([], {
        waiting: state.waiting.map((w) => ({ ...w })),
        active: Object.fromEntries(Object.entries(state.active).map(([id, a]) => [id, { ...a }])),
      });
    case "activeFor":
      return accept(
        [],
        Object.keys(state.active).filter((id) => state.active[id].operatorId === cmd.operatorId),
      );
  }
}

function enqueue(state: QueueState, cmd: Cmd<"enqueue">): Decided<"enqueue"> {
  const position = queuePosition(state, cmd.chatId);
  if (position > 0) return accept([], { position });
  if (Object.hasOwn(state.active, cmd.chatId)) {
    // The session still thinks it is queued, so our `assign` to it was lost: send it again.
    const { operatorId } = state.active[cmd.chatId];
    return accept([], { position: 0 }, [assignEffect(state, cmd.chatId, operatorId, "reconcile")]);
  }
  const event: QueueEvent = {
    type: "enqueued",
    chatId: cmd.chatId,
    clientId: cmd.clientId,
    priority: cmd.priority,
    enqueuedAt: cmd.enqueuedAt,
  };
  return accept([event], { position: queuePosition(evolve(state, event), cmd.chatId) });
}

function claim(state: QueueState, cmd: Cmd<"claim">, ctx: DecideContext): Decided<"claim"> {
  const { chatId, operatorId } = cmd;
  if (Object.hasOwn(state.active, chatId)) {
    const owner = state.active[chatId];
    if (owner.operatorId !== operatorId) {
      return reject("already_assigned", `Chat ${chatId} is already taken by another operator`);
    }
    // The same operator again (a retry): no event; re-send the assignment in case it was lost.
    return accept([], { chatId, operatorId }, [
      assignEffect(state, chatId, operatorId, "accepted"),
    ]);
  }
  const waiting = state.waiting.find((w) => w.chatId === chatId);
  if (waiting === undefined) {
    return reject("not_in_queue", `Chat ${chatId} is not waiting in queue ${state.name}`);
  }
  const event: QueueEvent = {
    type: "claimed",
    chatId,
    operatorId,
    waitedMs: Math.max(0, ctx.now - waiting.enqueuedAt),
    at: ctx.now,
  };
  return accept([event], { chatId, operatorId }, [
    assignEffect(state, chatId, operatorId, "accepted"),
  ]);
}

// ---------------------------------------------------------------------------------------------
// Evolve

function evolve(state: QueueState, event: QueueEvent): QueueState {
  switch (event.type) {
    case "enqueued": {
      const { type: _type, ...entry } = event;
      const rest = state.waiting.filter((w) => w.chatId !== entry.chatId);
      const at = rest.findIndex((w) => servedBefore(entry, w));
      const waiting = at < 0 ? [...rest, entry] : [...rest.slice(0, at), entry, ...rest.slice(at)];
      return { ...state, waiting };
    }
    case "claimed":
      return {
        ...state,
        waiting: state.waiting.filter((w) => w.chatId !== event.chatId),
        active: {
          ...state.active,
          [event.chatId]: { operatorId: event.operatorId, assignedAt: event.at },
        },
        servedCount: state.servedCount + 1,
        recentWaits: [...state.recentWaits, event.waitedMs].slice(-RECENT_WAITS_LIMIT),
      };
    case "released": {
      const { [event.chatId]: _gone, ...active } = state.active;
      return {
        ...state,
        waiting: state.waiting.filter((w) => w.chatId !== event.chatId),
        active,
      };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Entity

function initialState(name: string): QueueState {
  return { name, waiting: [], active: {}, servedCount: 0, recentWaits: [] };
}

/**
 * After an unclean stop (crash, partition move) re-send every assignment: the crash may have cut
 * the `assign` effect off after the claim was stored. A session that has it already ignores it;
 * a closed one answers `release`, which drops the stale owner here. After a clean stop the effects
 * ran; a session that still lost one re-enqueues itself on its own recovery, and `enqueue` of an
 * active chat re-sends the assignment.
 */
function onRecover(state: QueueState, ctx: RecoverContext): Effect[] {
  if (ctx.cleanStop) return [];
  return Object.entries(state.active).map(([chatId, a]) =>
    assignEffect(state, chatId, a.operatorId, "reconcile")
  );
}

export type QueueEntity = Entity<QueueState, QueueCommand, QueueEvent, QueueReply>;

export const queueEntity: QueueEntity = {
  type: QUEUE,
  initialState,
  decide,
  evolve,
  onRecover,
};
