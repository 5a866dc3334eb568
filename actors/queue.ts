/**
 * Queue: the single writer of routing for one department (id = queue name). It holds the waiting
 * chats, the owner of each taken chat and the roster of operators (status, capacity, presence,
 * load). Every claim, offer, transfer and requeue is checked and made in one `decide`, so a chat
 * never has two owners and an operator never holds more chats than their capacity.
 * Design: docs/ROUTING.md. Types: `_queue_types.ts`. Policy: `_queue_routing.ts`.
 */
import {
  cancelTimer,
  type DecideContext,
  type Decision,
  type Effect,
  type Entity,
  type RecoverContext,
  reject,
  tell,
} from "../src/runtime/entity.ts";
import { decided, QUEUE, queueCaller, SESSION } from "./_common.ts";
import { queueAuditWrites } from "./_queue_audit.ts";
import { evolve } from "./_queue_evolve.ts";
import { activeOf, canTakeMore, capacityOf, queuePosition, slotOf } from "./_queue_routing.ts";
import { activeChats, operatorSlots, waitingChats, waitingOf } from "./_queue_state.ts";
import { fromSnapshot, initialQueueState, readQueue, toSnapshot } from "./_queue_codec.ts";
import {
  type QueueCommand,
  type QueueEvent,
  type QueueReplies,
  type QueueReply,
  type QueueState,
} from "./_queue_types.ts";

export * from "./_queue_types.ts";
import {
  assignEffect,
  dispatch,
  ensureSlot,
  graceKey,
  graceTimer,
  isStaffCaller,
  offerKey,
  offerTimer,
  requeueEffect,
  returnChat,
  returnChatsOf,
  Step,
  withdrawOffers,
} from "./_queue_steps.ts";
export {
  canTakeMore,
  capacityOf,
  estimatedWaitSeconds,
  percentile,
  queuePosition,
  serviceRate,
} from "./_queue_routing.ts";
export {
  activeChats,
  activeChatsOf,
  activeCount,
  activeOf,
  anyOperatorFree,
  offersOf,
  operatorSlots,
  recentValues,
  slotOf,
  waitingChats,
  waitingCount,
  waitingOf,
  waitingPage,
} from "./_queue_state.ts";
export {
  fromSnapshot,
  offeredTo,
  PAGE_MAX,
  pageOf,
  positionOf,
  positionsOf,
  publicWaiting,
  rosterOf,
  statsOf,
  toSnapshot,
} from "./_queue_codec.ts";

type Cmd<K extends QueueCommand["type"]> = Extract<QueueCommand, { type: K }>;
type Decided<K extends keyof QueueReplies> = Decision<QueueEvent, QueueReplies[K]>;

// ---------------------------------------------------------------------------------------------
// Decide

function decide(
  state: QueueState,
  cmd: QueueCommand,
  ctx: DecideContext,
): Decision<QueueEvent, QueueReply> {
  const step = new Step(state, ctx);
  switch (cmd.type) {
    case "configure":
      if (JSON.stringify(state.config) !== JSON.stringify(cmd.config)) {
        step.emit({ type: "configured", config: cmd.config, at: ctx.now });
        dispatch(step);
      }
      return step.done({ config: step.state.config });
    case "enqueue":
      return enqueue(step, cmd);
    case "claim":
      return claim(step, cmd);
    case "release":
      return release(step, cmd);
    case "offer_expired": {
      const w = waitingOf(state, cmd.chatId);
      const live = w?.offer?.operatorId === cmd.operatorId && w.offer.until === cmd.until;
      if (!live) return step.done({ expired: false });
      step.emit({
        type: "offer_expired",
        chatId: cmd.chatId,
        operatorId: cmd.operatorId,
        at: ctx.now,
      });
      dispatch(step);
      return step.done({ expired: true });
    }
    case "transfer":
      return transfer(step, cmd);
    case "set_status":
      return setStatus(step, cmd);
    case "set_capacity": {
      if (cmd.by.role !== "admin") return reject("forbidden", "Only admins may set capacities");
      if (cmd.capacity !== null && (!Number.isInteger(cmd.capacity) || cmd.capacity < 0)) {
        return reject("invalid_payload", `Capacity ${cmd.capacity} is not a whole number >= 0`);
      }
      ensureSlot(step, cmd.operatorId);
      step.emit({
        type: "capacity_changed",
        operatorId: cmd.operatorId,
        capacity: cmd.capacity,
        byId: cmd.by.id,
        byRole: cmd.by.role,
        at: ctx.now,
      });
      dispatch(step);
      return step.done({ operatorId: cmd.operatorId, capacity: cmd.capacity });
    }
    case "set_priority":
      return setPriority(step, cmd);
    case "operator_online": {
      const slot = slotOf(state, cmd.operatorId);
      if (!slot || !slot.connected || slot.lostAt !== null || slot.role !== cmd.role) {
        step.emit({
          type: "operator_connected",
          operatorId: cmd.operatorId,
          role: cmd.role,
          at: ctx.now,
        });
        step.effects.push(cancelTimer(graceKey(cmd.operatorId)));
        dispatch(step);
      }
      return step.done({ status: slotOf(step.state, cmd.operatorId)!.status });
    }
    case "operator_lost": {
      const slot = slotOf(state, cmd.operatorId);
      if (!slot || !slot.connected) return step.done({ lostAt: slot?.lostAt ?? null });
      step.emit({ type: "operator_lost", operatorId: cmd.operatorId, at: ctx.now });
      step.effects.push(graceTimer(state, cmd.operatorId, ctx.now, ctx.now));
      return step.done({ lostAt: ctx.now });
    }
    case "audit_presence": {
      // Each one's grace period starts; the nodes holding their sockets answer `operator_online`.
      const connected = [...operatorSlots(state)].filter(([, s]) => s.connected);
      for (const [operatorId] of connected) {
        step.emit({ type: "operator_lost", operatorId, at: ctx.now });
        step.effects.push(graceTimer(state, operatorId, ctx.now, ctx.now));
      }
      return step.done({ lost: connected.length });
    }
    case "grace_expired": {
      const slot = slotOf(state, cmd.operatorId);
      if (!slot || slot.connected || slot.lostAt !== cmd.lostAt) {
        return step.done({ expired: false });
      }
      step.emit({ type: "operator_expired", operatorId: cmd.operatorId, at: ctx.now });
      const secs = Math.round(state.config.graceMs / 1000);
      const reason = `requeued: operator offline after ${secs} s grace`;
      returnChatsOf(step, cmd.operatorId, reason, queueCaller(state.name));
      dispatch(step);
      return step.done({ expired: true });
    }
    case "snapshot":
    case "activeFor":
    case "page":
    case "stats":
    case "roster":
    case "position":
    case "positions":
    case "offersFor":
    case "holds":
      // Reads: no event, the state as it is (actors/_queue_codec.ts).
      return step.done(readQueue(state, cmd));
  }
}

function enqueue(step: Step, cmd: Cmd<"enqueue">): Decided<"enqueue"> {
  const state = step.state;
  const position = queuePosition(state, cmd.chatId);
  if (position > 0) return step.done({ position });
  if (activeOf(state, cmd.chatId)) {
    // The session still thinks it is queued, so our `assign` to it was lost: send it again.
    const a = activeOf(state, cmd.chatId)!;
    step.effects.push(assignEffect(state, cmd.chatId, a.operatorId, "reconcile", a.decision));
    return step.done({ position: 0 });
  }
  const { type: _t, ...entry } = cmd;
  step.emit({ type: "enqueued", ...entry });
  dispatch(step);
  return step.done({ position: queuePosition(step.state, cmd.chatId) });
}

function claim(step: Step, cmd: Cmd<"claim">): Decided<"claim"> {
  const { state, ctx } = step;
  const { chatId, operatorId } = cmd;
  if (activeOf(state, chatId)) {
    if (activeOf(state, chatId)!.operatorId !== operatorId) {
      return reject("already_assigned", `Chat ${chatId} is already taken by another operator`);
    }
    // The same operator again (a retry): no event; re-send the assignment in case it was lost.
    const { decision } = activeOf(state, chatId)!;
    step.effects.push(assignEffect(state, chatId, operatorId, "accepted", decision));
    return step.done({ chatId, operatorId, ...decided(decision) });
  }
  const waiting = waitingOf(state, chatId);
  if (waiting === undefined) {
    return reject("not_in_queue", `Chat ${chatId} is not waiting in queue ${state.name}`);
  }
  const offeredHere = waiting.offer?.operatorId === operatorId;
  if (waiting.offer && !offeredHere) {
    return reject("already_assigned", `Chat ${chatId} is offered to another operator`);
  }
  const slot = slotOf(state, operatorId);
  if (!slot || slot.status !== "online" || !slot.connected) {
    return reject("operator_unavailable", `Operator ${operatorId} is not online`);
  }
  // An open offer already counts in the load, so it is always room for its own chat.
  if (!offeredHere && slot.load >= capacityOf(state, slot)) {
    return reject("at_capacity", `Operator ${operatorId} holds ${slot.load} chats, the capacity`);
  }
  const decision = step.nextSeq();
  step.emit({
    type: "claimed",
    chatId,
    operatorId,
    waitedMs: Math.max(0, ctx.now - waiting.enqueuedAt),
    at: ctx.now,
    decision,
  });
  if (offeredHere) step.effects.push(cancelTimer(offerKey(chatId)));
  const reason = offeredHere ? "auto" : "accepted";
  step.effects.push(assignEffect(state, chatId, operatorId, reason, decision));
  return step.done({ chatId, operatorId, decision });
}

function release(step: Step, cmd: Cmd<"release">): Decided<"release"> {
  const state = step.state;
  const waiting = queuePosition(state, cmd.chatId) > 0;
  if (!waiting && !activeOf(state, cmd.chatId)) return step.done({ released: false });
  step.emit({
    type: "released",
    chatId: cmd.chatId,
    reason: cmd.reason,
    from: waiting ? "waiting" : "active",
  });
  if (waiting) step.effects.push(cancelTimer(offerKey(cmd.chatId)));
  dispatch(step);
  return step.done({ released: true });
}

function transfer(step: Step, cmd: Cmd<"transfer">): Decided<"transfer"> {
  const { state, ctx } = step;
  const active = activeOf(state, cmd.chatId);
  if (!active) {
    return reject(
      "invalid_state",
      `Chat ${cmd.chatId} is not assigned, so it cannot be transferred`,
    );
  }
  if (cmd.by.role !== "admin" && !(isStaffCaller(cmd.by) && cmd.by.id === active.operatorId)) {
    return reject(
      "forbidden",
      `Only the chat's operator or an admin may transfer chat ${cmd.chatId}`,
    );
  }
  const by = { byId: cmd.by.id, byRole: cmd.by.role };
  if (cmd.to === null) {
    returnChat(step, cmd.chatId, cmd.reason, cmd.by);
    dispatch(step);
    return step.done({ chatId: cmd.chatId, to: null });
  }
  if (cmd.to === active.operatorId) {
    return reject("invalid_state", `Chat ${cmd.chatId} is already with ${cmd.to}`);
  }
  const target = slotOf(state, cmd.to);
  if (!target || target.status !== "online" || !target.connected) {
    return reject("operator_unavailable", `Operator ${cmd.to} is not online`);
  }
  if (!canTakeMore(state, target)) {
    return reject("at_capacity", `Operator ${cmd.to} has no room for another chat`);
  }
  const decision = step.nextSeq();
  step.emit({
    type: "transferred",
    chatId: cmd.chatId,
    from: active.operatorId,
    to: cmd.to,
    reason: cmd.reason,
    at: ctx.now,
    ...by,
    decision,
  });
  step.effects.push(tell(SESSION, cmd.chatId, {
    type: "transfer",
    by: queueCaller(state.name),
    from: active.operatorId,
    to: cmd.to,
    reason: cmd.reason,
    actor: cmd.by,
    decision,
  }));
  dispatch(step);
  return step.done({ chatId: cmd.chatId, to: cmd.to });
}

function setStatus(step: Step, cmd: Cmd<"set_status">): Decided<"set_status"> {
  const ctx = step.ctx;
  if (cmd.by.role !== "admin" && !(isStaffCaller(cmd.by) && cmd.by.id === cmd.operatorId)) {
    return reject("forbidden", `Only admins may set the status of ${cmd.operatorId}`);
  }
  ensureSlot(step, cmd.operatorId);
  if (slotOf(step.state, cmd.operatorId)!.status !== cmd.status) {
    step.emit({
      type: "status_changed",
      operatorId: cmd.operatorId,
      status: cmd.status,
      byId: cmd.by.id,
      byRole: cmd.by.role,
      at: ctx.now,
    });
    if (cmd.status === "offline") {
      step.effects.push(cancelTimer(graceKey(cmd.operatorId)));
      returnChatsOf(step, cmd.operatorId, "requeued: operator went offline", cmd.by);
    } else if (cmd.status !== "online") {
      // Away or busy: they keep their chats, but may not accept an open offer any more.
      withdrawOffers(step, cmd.operatorId);
    }
    dispatch(step);
  }
  return step.done({ operatorId: cmd.operatorId, status: cmd.status });
}

function setPriority(step: Step, cmd: Cmd<"set_priority">): Decided<"set_priority"> {
  const { state, ctx } = step;
  if (cmd.by.role !== "admin") return reject("forbidden", "Only admins may change priorities");
  if (!Number.isInteger(cmd.priority)) {
    return reject("invalid_payload", `Priority ${cmd.priority} is not a whole number`);
  }
  const known = waitingOf(state, cmd.chatId) !== undefined || !!activeOf(state, cmd.chatId);
  if (!known) return reject("not_found", `Chat ${cmd.chatId} is not in queue ${state.name}`);
  step.emit({
    type: "priority_changed",
    chatId: cmd.chatId,
    priority: cmd.priority,
    byId: cmd.by.id,
    byRole: cmd.by.role,
    at: ctx.now,
  });
  return step.done({ chatId: cmd.chatId, priority: cmd.priority });
}

// ---------------------------------------------------------------------------------------------
// Recovery and entity

/**
 * Timers live in memory, so re-arm open offers and running grace periods. A start-up after any
 * stop dropped every socket: operators believed connected start their grace period now (the
 * server re-announces the ones whose sockets are in fact still open). After an unclean stop,
 * re-send assignments and requeues whose effects a crash may have cut off; receivers ignore
 * what they already have.
 */
function onRecover(state: QueueState, ctx: RecoverContext): Effect[] {
  const effects: Effect[] = [];
  for (const w of waitingChats(state)) {
    if (w.offer) effects.push(offerTimer(w.chatId, w.offer.operatorId, w.offer.until, ctx.now));
  }
  for (const [id, slot] of operatorSlots(state)) {
    if (slot.connected) {
      effects.push(tell(QUEUE, state.name, { type: "operator_lost", operatorId: id }));
    } else if (slot.lostAt !== null) effects.push(graceTimer(state, id, slot.lostAt, ctx.now));
  }
  if (!ctx.cleanStop) {
    for (const [chatId, a] of activeChats(state)) {
      effects.push(assignEffect(state, chatId, a.operatorId, "reconcile", a.decision));
    }
    for (const w of waitingChats(state)) {
      if (!w.requeued) continue;
      const from = w.declined[0] ?? "";
      const by = queueCaller(state.name);
      effects.push(requeueEffect(state, w.chatId, from, "reconcile", by, w.decision));
    }
  }
  return effects;
}

export type QueueEntity = Entity<QueueState, QueueCommand, QueueEvent, QueueReply>;

export const queueEntity: QueueEntity = {
  type: QUEUE,
  initialState: initialQueueState,
  decide,
  evolve,
  toSnapshot: (state) => toSnapshot(state, true),
  fromSnapshot,
  onRecover,
  retainEvents: true,
  passivate: false,
  writes: queueAuditWrites,
};
