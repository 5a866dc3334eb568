/**
 * Session: one chat between a client and its operator (or its lawyer). The event log is the chat
 * history, so it is kept whole (`retainEvents`); every event gets the next `seq`, and `state.seq`
 * is always the seq of the last event.
 *
 * Lifecycle: `none -> queued -> assigned -> closed` for support chats; lawyer chats start
 * `assigned` to their lawyer. Assignments come only from the queue actor, the single writer.
 */
import {
  accept,
  custom,
  type DecideContext,
  type Decision,
  type Effect,
  type Entity,
  type RecoverContext,
  reject,
  type Rejected,
} from "../src/runtime/entity.ts";
import { type Caller, decided, participantKey, queueCaller, SESSION } from "./_common.ts";
import { appendRecent, recentEntry } from "./_recent.ts";
import {
  closedAtOperatorEffect,
  closeEffects,
  enqueueEffect,
  linkClientEffect,
  openedEffect,
  releaseEffect,
} from "./_session_effects.ts";
import { sessionSeqMarks, sessionWrites } from "./_session_writes.ts";
import { botReply, escalate, setTitle } from "./_session_bot.ts";
import {
  dedupKey,
  findDuplicate,
  lastReadOf,
  sessionView,
  unreadCount,
  windowMissesOlder,
} from "./_session_view.ts";

export type { SessionView } from "./_session_view.ts";

export type { RecentMessage } from "./_recent.ts";
export * from "./_session_types.ts";
import {
  type Rating,
  RECENT_MESSAGES_LIMIT,
  type SessionCommand,
  type SessionEvent,
  type SessionReplies,
  type SessionReply,
  type SessionState,
} from "./_session_types.ts";

type Decided<K extends keyof SessionReplies> = Decision<SessionEvent, SessionReplies[K]>;
type Cmd<K extends SessionCommand["type"]> = Extract<SessionCommand, { type: K }>;

// ---------------------------------------------------------------------------------------------
// Policies

/** The chat's client, its operator or lawyer, or any admin. */
export function isParticipant(state: SessionState, by: Caller): boolean {
  if (!state.exists) return false;
  switch (by.role) {
    case "admin":
      return true;
    case "client":
      return by.id === state.clientId;
    case "operator":
    case "lawyer":
      return state.operatorId !== null && by.id === state.operatorId;
  }
}

function forbidden(state: SessionState, by: Caller): Rejected {
  return reject("forbidden", `User ${by.id} (${by.role}) may not do this in chat ${state.id}`);
}

// ---------------------------------------------------------------------------------------------
// Decide

function decide(
  state: SessionState,
  cmd: SessionCommand,
  ctx: DecideContext,
): Decision<SessionEvent, SessionReply> {
  if (cmd.type === "create") return create(state, cmd, ctx);
  if (!state.exists) return reject("not_found", `Chat ${ctx.id} does not exist`);
  switch (cmd.type) {
    case "assign":
      return assign(state, cmd, ctx);
    case "message":
      return message(state, cmd, ctx);
    case "typing":
      if (!isParticipant(state, cmd.by)) return forbidden(state, cmd.by);
      return accept([], {}, [
        custom("typing", {
          chatId: state.id,
          userId: cmd.by.id,
          role: cmd.by.role,
          isTyping: cmd.isTyping,
        }),
      ]);
    case "read":
      return read(state, cmd);
    case "close":
      return close(state, cmd, ctx);
    case "rate":
      return rate(state, cmd, ctx);
    case "transfer":
      return transfer(state, cmd, ctx);
    case "requeue":
      return requeue(state, cmd, ctx);
    case "link_lawyer": {
      const owner = cmd.by.role === "admin" ||
        (cmd.by.role === "operator" && cmd.by.id === state.operatorId);
      if (!owner) return forbidden(state, cmd.by);
      const event: SessionEvent = {
        type: "lawyer_assigned",
        lawyerId: cmd.lawyerId,
        lawyerChatId: cmd.lawyerChatId,
        byId: cmd.by.id,
        byRole: cmd.by.role,
        ...(cmd.reason ? { reason: cmd.reason } : {}),
        at: ctx.now,
      };
      return accept([event], { seq: ctx.nextSeq });
    }
    case "bot_reply":
      return botReply(state, cmd, ctx);
    case "escalate":
      return escalate(state, cmd, ctx, evolve);
    case "set_title":
      return setTitle(state, cmd, ctx);
    case "get":
      // Operators (and admins) may look at a waiting chat (or one the bot holds) before taking
      // it, and read a closed support chat (found by search; writing stays the participants');
      // lawyers see only the chats they are a participant of.
      if (
        isParticipant(state, cmd.by) ||
        (cmd.by.role === "operator" && (state.status === "queued" || state.status === "bot")) ||
        (cmd.by.role === "operator" && state.kind === "support" && state.status === "closed")
      ) {
        return accept([], sessionView(state));
      }
      return forbidden(state, cmd.by);
  }
}

function create(state: SessionState, cmd: Cmd<"create">, ctx: DecideContext): Decided<"create"> {
  if (state.exists) {
    if (state.clientId === cmd.clientId) return accept([], sessionView(state));
    return reject("invalid_state", `Chat ${ctx.id} exists for another client`);
  }
  if (cmd.by.role === "client" && (cmd.by.id !== cmd.clientId || cmd.kind === "lawyer")) {
    return forbidden(state, cmd.by);
  }
  if (cmd.kind === "lawyer" && !cmd.lawyerId) {
    return reject("invalid_payload", "A lawyer chat needs a lawyerId");
  }
  const created: SessionEvent = {
    type: "created",
    clientId: cmd.clientId,
    kind: cmd.kind,
    queue: cmd.queue,
    priority: cmd.priority,
    byId: cmd.by.id,
    byRole: cmd.by.role,
    ...(cmd.linkedChatId === undefined ? {} : { linkedChatId: cmd.linkedChatId }),
    ...(cmd.channel === undefined ? {} : { channel: cmd.channel }),
    ...(cmd.hold && cmd.kind === "support" ? { held: true } : {}),
    ...(cmd.clientName ? { clientName: cmd.clientName } : {}),
    ...(cmd.offline && cmd.kind === "support" ? { offline: true } : {}),
    ...(cmd.reason && cmd.kind === "lawyer" ? { reason: cmd.reason } : {}),
    at: ctx.now,
  };
  if (created.type === "created" && created.held) {
    const held = evolve(state, created);
    return accept([created], sessionView(held), [linkClientEffect(held)]);
  }
  const start: SessionEvent = cmd.kind === "lawyer" && cmd.lawyerId
    ? { type: "assigned", operatorId: cmd.lawyerId, reason: "lawyer", at: ctx.now }
    : { type: "queued", at: ctx.now };
  const after = evolve(evolve(state, created), start);
  const effect = start.type === "assigned"
    ? openedEffect(start.operatorId, ctx.id)
    : enqueueEffect(after);
  const lawyerId = start.type === "assigned" ? start.operatorId : undefined;
  return accept([created, start], sessionView(after), [effect, linkClientEffect(after, lawyerId)]);
}

function assign(state: SessionState, cmd: Cmd<"assign">, ctx: DecideContext): Decided<"assign"> {
  // Only this chat's queue assigns: it is the single writer that keeps one owner per chat.
  const order = checkDecision(state, cmd.by, cmd.decision);
  if (typeof order !== "string") return order;
  const opened = [openedEffect(cmd.operatorId, state.id)];
  const reply = { status: "assigned", operatorId: cmd.operatorId } as const;
  if (state.status === "assigned") {
    // Same operator: a re-sent assignment (after a crash); re-deliver `chat_opened`, no event.
    if (state.operatorId === cmd.operatorId && order !== "new") return accept([], reply, opened);
    if (state.operatorId !== cmd.operatorId) {
      if (cmd.reason !== "reconcile" && order !== "new") {
        return reject("already_assigned", `Chat ${state.id} is assigned to ${state.operatorId}`);
      }
      // The queue is the authority: its later decision (or, from an older queue, a transfer
      // whose effect was lost in a crash) is applied now.
      return transfer(state, {
        type: "transfer",
        by: cmd.by,
        from: state.operatorId ?? "",
        to: cmd.operatorId,
        reason: cmd.reason,
        actor: cmd.by,
        ...decided(cmd.decision),
      }, ctx) as Decided<"assign">;
    }
  }
  return accept([assigned(cmd.operatorId, cmd.reason, cmd.decision, ctx)], reply, opened);
}

function assigned(
  operatorId: string,
  reason: string,
  decision: number | undefined,
  ctx: DecideContext,
): SessionEvent {
  return { type: "assigned", operatorId, reason, at: ctx.now, ...decided(decision) };
}

// ---------------------------------------------------------------------------------------------
// Ownership decisions
//
// The queue decides who owns a chat; the chat applies its decisions. The queue's commands about
// one chat may arrive out of order or more than once: the queue's own `assign` and the accepting
// operator's request both carry a claim, an owed command is sent again after a timeout or a
// restart, and a full mailbox delays one delivery but not the next. Each command carries the
// queue seq of the decision it carries out, and the chat keeps the latest it applied
// (`queueDecision`): an older one is late and changes nothing (else an `assign` arriving after
// the requeue that undid it would hand the chat back to an operator the queue took it from),
// the same one is a repeat (answered as before), and a newer one is always stored, even when
// the chat already looks as decided, so that no older one can undo it later. Commands without a
// decision (sent by an older version) are applied as they always were.

type Order = "late" | "repeat" | "new" | "unknown";

function orderOf(state: SessionState, decision: number | undefined): Order {
  if (decision === undefined) return "unknown";
  const applied = state.queueDecision ?? 0;
  return decision < applied ? "late" : decision === applied ? "repeat" : "new";
}

/**
 * What every queue decision (assign, transfer, requeue) passes first: it comes from this chat's
 * queue, the chat is open (else the queue is told to let it go), and it is not late. Answers the
 * decision's order, or the answer to give instead.
 */
function checkDecision(
  state: SessionState,
  by: Caller,
  decision: number | undefined,
): Exclude<Order, "late"> | Rejected | Decision<SessionEvent, { status: "closed" }> {
  if (!fromQueue(state, by)) return forbidden(state, by);
  if (state.status === "closed") return accept([], { status: "closed" }, [releaseEffect(state)]);
  const order = orderOf(state, decision);
  return order === "late" ? late(state, decision!) : order;
}

function late(state: SessionState, decision: number): Rejected {
  const applied = state.queueDecision ?? 0;
  return reject(
    "invalid_state",
    `Chat ${state.id}: its queue has decided otherwise since (decision ${decision} < ${applied})`,
  );
}

function message(state: SessionState, cmd: Cmd<"message">, ctx: DecideContext): Decided<"message"> {
  // A retry is acknowledged again even after the close, and even when its sender has lost the
  // chat since (transferred away): the original was stored, so the other side has it. Retries
  // are found by sender, so this tells nobody anything about others' messages.
  const key = dedupKey(cmd);
  if (key !== undefined) {
    const seq = findDuplicate(state, cmd.by, key);
    if (seq !== undefined) return accept([], { seq, duplicate: true });
    // Older messages than the window exist: the stored index has to be asked first.
    if (!cmd.storedChecked && windowMissesOlder(state)) return accept([], { lookup: true });
  }
  if (!isParticipant(state, cmd.by)) return forbidden(state, cmd.by);
  if (state.status === "closed") return reject("chat_closed", `Chat ${state.id} is closed`);
  const event: SessionEvent = {
    type: "message",
    senderId: cmd.by.id,
    senderRole: cmd.by.role,
    text: cmd.text,
    ...(cmd.clientMsgId === undefined ? {} : { clientMsgId: cmd.clientMsgId }),
    ...(cmd.clientMsgId === undefined && cmd.requestId !== undefined
      ? { requestId: cmd.requestId }
      : {}),
    ...(cmd.attachments?.length ? { attachments: cmd.attachments } : {}),
    at: ctx.now,
  };
  return accept([event], { seq: ctx.nextSeq, duplicate: false, at: ctx.now });
}

function read(state: SessionState, cmd: Cmd<"read">): Decided<"read"> {
  if (!isParticipant(state, cmd.by)) return forbidden(state, cmd.by);
  if (!Number.isInteger(cmd.seq) || cmd.seq < 0 || cmd.seq > state.seq) {
    return reject("invalid_payload", `Seq ${cmd.seq} is not between 0 and ${state.seq}`);
  }
  const current = lastReadOf(state, cmd.by);
  const lastReadSeq = Math.max(current, cmd.seq);
  const reply = { lastReadSeq, unread: unreadCount(state, cmd.by, lastReadSeq) };
  if (cmd.seq <= current) return accept([], reply);
  return accept(
    [{ type: "read", participantId: cmd.by.id, role: cmd.by.role, seq: cmd.seq }],
    reply,
  );
}

function close(state: SessionState, cmd: Cmd<"close">, ctx: DecideContext): Decided<"close"> {
  if (!isParticipant(state, cmd.by)) return forbidden(state, cmd.by);
  if (state.status === "closed") return reject("chat_closed", `Chat ${state.id} is already closed`);
  const event: SessionEvent = {
    type: "closed",
    byId: cmd.by.id,
    byRole: cmd.by.role,
    reason: cmd.reason ?? null,
    at: ctx.now,
  };
  return accept([event], { status: "closed", closedAt: ctx.now }, closeEffects(state));
}

function rate(state: SessionState, cmd: Cmd<"rate">, ctx: DecideContext): Decided<"rate"> {
  const allowed = cmd.by.role === "admin" ||
    (cmd.by.role === "client" && cmd.by.id === state.clientId);
  if (!allowed) return forbidden(state, cmd.by);
  if (!Number.isInteger(cmd.score) || cmd.score < 1 || cmd.score > 5) {
    return reject("invalid_payload", `Score ${cmd.score} is not an integer from 1 to 5`);
  }
  if (state.status !== "closed") return reject("not_closed", `Chat ${state.id} is not closed`);
  if (state.rating !== null) return reject("already_rated", `Chat ${state.id} is already rated`);
  const rating: Rating = {
    score: cmd.score,
    ...(cmd.comment === undefined ? {} : { comment: cmd.comment }),
    at: ctx.now,
  };
  return accept([{ type: "rated", ...rating }], { rating });
}

function fromQueue(state: SessionState, by: Caller): boolean {
  return by.role === "admin" && by.id === queueCaller(state.queue).id;
}

function transfer(
  state: SessionState,
  cmd: Cmd<"transfer">,
  ctx: DecideContext,
): Decided<"transfer"> {
  const order = checkDecision(state, cmd.by, cmd.decision);
  if (typeof order !== "string") return order;
  const reply = { status: "assigned", operatorId: cmd.to } as const;
  const opened = [openedEffect(cmd.to, state.id)];
  if (state.status === "assigned" && state.operatorId === cmd.to) {
    if (order !== "new") return accept([], reply, opened);
    // Already with `to` (an undoing decision never arrived): the decision is kept all the same.
    return accept([assigned(cmd.to, cmd.reason, cmd.decision, ctx)], reply, opened);
  }
  const event: SessionEvent = {
    type: "transferred",
    from: state.operatorId,
    to: cmd.to,
    reason: cmd.reason,
    byId: cmd.actor.id,
    byRole: cmd.actor.role,
    at: ctx.now,
    ...decided(cmd.decision),
  };
  const effects = [...opened];
  if (state.operatorId !== null) effects.push(closedAtOperatorEffect(state.operatorId, state.id));
  return accept([event], reply, effects);
}

function requeue(state: SessionState, cmd: Cmd<"requeue">, ctx: DecideContext): Decided<"requeue"> {
  const order = checkDecision(state, cmd.by, cmd.decision);
  if (typeof order !== "string") return order;
  if (state.status === "queued" && order !== "new") return accept([], { status: "queued" });
  // Queued already but the decision is new: an assignment it undoes never arrived (it is late
  // now); the return from that operator is stored, so the late one cannot take effect.
  const from = state.operatorId ?? (cmd.from || null);
  const event: SessionEvent = {
    type: "transferred",
    from,
    to: null,
    reason: cmd.reason,
    byId: cmd.actor.id,
    byRole: cmd.actor.role,
    at: ctx.now,
    ...decided(cmd.decision),
  };
  const effects = from === null ? [] : [closedAtOperatorEffect(from, state.id)];
  return accept([event], { status: "queued" }, effects);
}

// ---------------------------------------------------------------------------------------------
// Evolve

function evolve(state: SessionState, event: SessionEvent): SessionState {
  const s: SessionState = { ...state, seq: state.seq + 1 };
  switch (event.type) {
    case "created":
      return {
        ...s,
        exists: true,
        kind: event.kind,
        clientId: event.clientId,
        queue: event.queue,
        priority: event.priority,
        createdAt: event.at,
        ...(event.linkedChatId === undefined ? {} : { linkedChatId: event.linkedChatId }),
        ...(event.channel === undefined ? {} : { channel: event.channel }),
        ...(event.clientName === undefined ? {} : { clientName: event.clientName }),
        ...(event.held ? { status: "bot" as const } : {}),
        ...(event.offline ? { offline: true } : {}),
      };
    case "queued":
      return { ...s, status: "queued", queuedAt: event.at };
    case "assigned":
      return {
        ...s,
        status: "assigned",
        operatorId: event.operatorId,
        assignedAt: event.at,
        ...queueDecided(s, event.decision),
      };
    case "message": {
      // `clientMsgId` of a recent entry is its dedup key (the client's id or the request id).
      const key = dedupKey(event);
      const by = participantKey({ id: event.senderId, role: event.senderRole });
      const entry = recentEntry(s.recentMessages, s.seq, event.senderId, by, key);
      return {
        ...s,
        recentMessages: appendRecent(s.recentMessages, entry, RECENT_MESSAGES_LIMIT),
        messageCount: s.messageCount + 1,
        firstResponseAt: s.firstResponseAt ?? (event.senderRole === "client" ? null : event.at),
      };
    }
    case "read":
      return {
        ...s,
        lastRead: {
          ...s.lastRead,
          [
            event.role
              ? participantKey({ id: event.participantId, role: event.role })
              : event.participantId
          ]: event.seq,
        },
      };
    case "closed":
      return {
        ...s,
        status: "closed",
        closedAt: event.at,
        closedBy: { id: event.byId, role: event.byRole },
        closeReason: event.reason,
      };
    case "rated": {
      const { type: _type, ...rating } = event;
      return { ...s, rating };
    }
    case "transferred":
      return event.to === null
        ? {
          ...s,
          status: "queued",
          operatorId: null,
          assignedAt: null,
          ...queueDecided(s, event.decision),
        }
        : {
          ...s,
          status: "assigned",
          operatorId: event.to,
          assignedAt: event.at,
          ...queueDecided(s, event.decision),
        };
    case "lawyer_assigned":
      return { ...s, lawyers: { ...s.lawyers, [event.lawyerId]: event.lawyerChatId } };
    case "bot_message":
      return s;
    case "escalated":
      return { ...s, escalated: true };
    case "titled":
      return { ...s, title: event.title };
  }
}

/** The chat's latest applied queue decision after an event carrying `decision`. */
function queueDecided(s: SessionState, decision: number | undefined): Partial<SessionState> {
  if (decision === undefined) return {};
  return { queueDecision: Math.max(s.queueDecision ?? 0, decision) };
}

// ---------------------------------------------------------------------------------------------
// Recovery

/**
 * A queued chat always re-enqueues itself, so a crash between this commit and the queue's loses
 * nothing. After an unclean stop (crash, partition move) the effects of the last events may have
 * been cut off, so an assigned chat re-opens itself at its operator and a closed one re-releases.
 */
function onRecover(state: SessionState, ctx: RecoverContext): Effect[] {
  if (state.status === "queued") return [enqueueEffect(state)];
  if (ctx.cleanStop) return [];
  if (state.status === "assigned" && state.operatorId !== null) {
    return [openedEffect(state.operatorId, state.id)];
  }
  if (state.status === "closed") return closeEffects(state);
  return [];
}

// ---------------------------------------------------------------------------------------------
// Entity

function initialState(id: string): SessionState {
  return {
    id,
    exists: false,
    kind: "support",
    status: "none",
    clientId: "",
    operatorId: null,
    queue: "",
    priority: 0,
    createdAt: null,
    queuedAt: null,
    assignedAt: null,
    closedAt: null,
    closedBy: null,
    closeReason: null,
    rating: null,
    seq: 0,
    recentMessages: [],
    lastRead: {},
    messageCount: 0,
    firstResponseAt: null,
  };
}

export type SessionEntity = Entity<SessionState, SessionCommand, SessionEvent, SessionReply>;

export const sessionEntity: SessionEntity = {
  type: SESSION,
  retainEvents: true,
  initialState,
  decide,
  evolve,
  onRecover,
  writes: sessionWrites,
  seqMarks: sessionSeqMarks,
};
