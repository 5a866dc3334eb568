/** Effects of a session: run after its events are stored; every receiver takes them idempotently. */
import { type Effect, tell } from "../src/runtime/entity.ts";
import { CLIENT, OPERATOR, QUEUE } from "./_common.ts";
import type { SessionState } from "./session.ts";

export function enqueueEffect(state: SessionState): Effect {
  return tell(QUEUE, state.queue, {
    type: "enqueue",
    chatId: state.id,
    clientId: state.clientId,
    priority: state.priority,
    enqueuedAt: state.queuedAt,
  });
}

export function openedEffect(operatorId: string, chatId: string): Effect {
  return tell(OPERATOR, operatorId, { type: "chat_opened", chatId });
}

export function releaseEffect(state: SessionState): Effect {
  return tell(QUEUE, state.queue, { type: "release", chatId: state.id, reason: "closed" });
}

export function closedAtOperatorEffect(operatorId: string, chatId: string): Effect {
  return tell(OPERATOR, operatorId, { type: "chat_closed", chatId });
}

export function closeEffects(state: SessionState): Effect[] {
  const effects = [releaseEffect(state)];
  if (state.operatorId !== null) effects.push(closedAtOperatorEffect(state.operatorId, state.id));
  return effects;
}

/** The client's own list of chats learns about a new one. */
export function linkClientEffect(state: SessionState, lawyerId?: string): Effect {
  return tell(CLIENT, state.clientId, {
    type: "chat_linked",
    chatId: state.id,
    kind: state.kind,
    createdAt: state.createdAt ?? 0,
    ...(lawyerId ? { lawyerId } : {}),
    ...(state.linkedChatId ? { linkedChatId: state.linkedChatId } : {}),
  });
}
