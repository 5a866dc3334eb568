/**
 * The building blocks of the queue's decisions: a `Step` that accumulates events (evolving the
 * state as it goes) and effects, and the shared moves (offer, requeue, withdraw, timers).
 */
import {
  accept,
  cancelTimer,
  type DecideContext,
  type Decision,
  type Effect,
  tell,
  timer,
} from "../src/runtime/entity.ts";
import { type Caller, decided, queueCaller, SESSION } from "./_common.ts";
import { evolve } from "./_queue_evolve.ts";
import { activeOf, pickOperator, slotOf } from "./_queue_routing.ts";
import { activeChatsOf, anyOperatorFree, offersOf } from "./_queue_state.ts";
import type { QueueEvent, QueueState } from "./_queue_types.ts";

/** Events and effects of one decision, with the state evolving as events are added. */
export class Step {
  state: QueueState;
  readonly events: QueueEvent[] = [];
  readonly effects: Effect[] = [];
  constructor(state: QueueState, readonly ctx: DecideContext) {
    this.state = state;
  }
  emit(event: QueueEvent): void {
    this.events.push(event);
    this.state = evolve(this.state, event);
  }
  /** The seq the next emitted event gets: an ownership decision's number (`ActiveChat`). */
  nextSeq(): number {
    return this.ctx.nextSeq + this.events.length;
  }
  done<R>(reply: R): Decision<QueueEvent, R> {
    return accept(this.events, reply, this.effects);
  }
}

/** Admins may set status or capacity of an operator who never connected. */
export function ensureSlot(step: Step, operatorId: string): void {
  if (slotOf(step.state, operatorId)) return;
  step.emit({ type: "operator_registered", operatorId, role: "operator", at: step.ctx.now });
}

export function isStaffCaller(by: Caller): boolean {
  return by.role === "operator" || by.role === "lawyer" || by.role === "admin";
}

/** Every chat and offer of an operator goes back to the front of the queue. */
export function returnChatsOf(step: Step, operatorId: string, reason: string, by: Caller): void {
  withdrawOffers(step, operatorId);
  // In the order they were taken.
  for (const chatId of activeChatsOf(step.state, operatorId)) {
    returnChat(step, chatId, reason, by);
  }
}

/** Withdraws the operator's open offers, in service order. */
export function withdrawOffers(step: Step, operatorId: string): void {
  for (const chatId of offersOf(step.state, operatorId)) {
    step.emit({ type: "offer_expired", chatId, operatorId, at: step.ctx.now });
    step.effects.push(cancelTimer(offerKey(chatId)));
  }
}

export function returnChat(step: Step, chatId: string, reason: string, by: Caller): void {
  const from = activeOf(step.state, chatId)!.operatorId;
  const decision = step.nextSeq();
  step.emit({
    type: "requeued",
    chatId,
    from,
    reason,
    byId: by.id,
    byRole: by.role,
    at: step.ctx.now,
    decision,
  });
  step.effects.push(requeueEffect(step.state, chatId, from, reason, by, decision));
}

/**
 * Auto mode: offer each waiting chat without an offer, in order, to the best available operator,
 * while there is one. Each offer reads the first unoffered chat and the first free operators:
 * O(log n) per offer made, nothing per chat that stays waiting.
 */
export function dispatch(step: Step): void {
  if (step.state.config.mode !== "auto") return;
  while (anyOperatorFree(step.state)) {
    const chat = step.state.unoffered.first()?.[0];
    if (chat === undefined) return;
    const operatorId = pickOperator(step.state, chat)!;
    const until = step.ctx.now + step.state.config.acceptTimeoutMs;
    step.emit({ type: "offered", chatId: chat.chatId, operatorId, until, at: step.ctx.now });
    step.effects.push(offerTimer(chat.chatId, operatorId, until, step.ctx.now));
  }
}

export const offerKey = (chatId: string) => `offer:${chatId}`;
export const graceKey = (operatorId: string) => `grace:${operatorId}`;

export function offerTimer(chatId: string, operatorId: string, until: number, now: number): Effect {
  return timer(offerKey(chatId), until - now, { type: "offer_expired", chatId, operatorId, until });
}

export function graceTimer(
  state: QueueState,
  operatorId: string,
  lostAt: number,
  now: number,
): Effect {
  return timer(graceKey(operatorId), lostAt + state.config.graceMs - now, {
    type: "grace_expired",
    operatorId,
    lostAt,
  });
}

/** `decision`: the seq of the claim or transfer it carries out (absent for older state). */
export function assignEffect(
  state: QueueState,
  chatId: string,
  operatorId: string,
  reason: string,
  decision: number | undefined,
): Effect {
  return tell(SESSION, chatId, {
    type: "assign",
    by: queueCaller(state.name),
    operatorId,
    reason,
    ...decided(decision),
  });
}

/** The chat goes back to the queue, as decided at queue seq `decision`. */
export function requeueEffect(
  state: QueueState,
  chatId: string,
  from: string,
  reason: string,
  actor: Caller,
  decision: number | undefined,
): Effect {
  return tell(SESSION, chatId, {
    type: "requeue",
    by: queueCaller(state.name),
    from,
    reason,
    actor,
    ...decided(decision),
  });
}
