/**
 * The session's bot, title and escalation commands (issue 6). The bot and the title service speak
 * as the system caller; escalation may also come from the chat's client (asking for a human).
 */
import { accept, type DecideContext, type Decision, reject } from "../src/runtime/entity.ts";
import type { Caller } from "./_common.ts";
import { enqueueEffect } from "./_session_effects.ts";
import type {
  SessionCommand,
  SessionEvent,
  SessionReplies,
  SessionState,
} from "./_session_types.ts";

type Cmd<K extends SessionCommand["type"]> = Extract<SessionCommand, { type: K }>;
type Decided<K extends keyof SessionReplies> = Decision<SessionEvent, SessionReplies[K]>;
type Evolve = (s: SessionState, e: SessionEvent) => SessionState;

export const MAX_TITLE_LENGTH = 80;
const isSystem = (by: Caller) => by.role === "admin";

export function botReply(
  state: SessionState,
  cmd: Cmd<"bot_reply">,
  ctx: DecideContext,
): Decided<"bot_reply"> {
  if (!isSystem(cmd.by)) return reject("forbidden", "Only the bot may answer as the bot");
  if (state.status !== "bot" && state.status !== "queued") {
    return reject("invalid_state", `Chat ${state.id} is ${state.status}; the bot answers no more`);
  }
  if (cmd.text.trim() === "") return reject("invalid_payload", "Bot answer is empty");
  const confidence = Math.min(1, Math.max(0, cmd.confidence));
  return accept([{
    type: "bot_message",
    intent: cmd.intent,
    confidence,
    text: cmd.text,
    quickReplies: cmd.quickReplies.slice(0, 10),
    at: ctx.now,
  }], { seq: ctx.nextSeq });
}

/** A held chat joins the queue; a waiting one is marked as asking for a human. Idempotent. */
export function escalate(
  state: SessionState,
  cmd: Cmd<"escalate">,
  ctx: DecideContext,
  evolve: Evolve,
): Decided<"escalate"> {
  const ownClient = cmd.by.role === "client" && cmd.by.id === state.clientId;
  if (!isSystem(cmd.by) && !ownClient) return reject("forbidden", "Not allowed to escalate");
  if (state.escalated || (state.status !== "bot" && state.status !== "queued")) {
    return accept([], { status: state.status });
  }
  const events: SessionEvent[] = [{ type: "escalated", reason: cmd.reason, at: ctx.now }];
  if (state.status === "bot") events.push({ type: "queued", at: ctx.now });
  const after = events.reduce(evolve, state);
  const effects = state.status === "bot" ? [enqueueEffect(after)] : [];
  return accept(events, { status: after.status }, effects);
}

export function setTitle(
  state: SessionState,
  cmd: Cmd<"set_title">,
  ctx: DecideContext,
): Decided<"set_title"> {
  if (!isSystem(cmd.by)) return reject("forbidden", "Only staff set titles");
  const title = cmd.title.replace(/\s+/g, " ").trim().slice(0, MAX_TITLE_LENGTH);
  if (title === "") return reject("invalid_payload", "Title is empty");
  if (title === state.title) return accept([], { title });
  return accept([{ type: "titled", title, at: ctx.now }], { title });
}
