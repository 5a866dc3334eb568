/**
 * Chat staff side: what staff keep about one chat (id = chat id) and its client never sees —
 * internal notes, labels, and who was mentioned in a note (which lets them read the chat). It is a
 * separate actor with a log and a seq of its own, so the chat's own log (the client's stream)
 * stays gap-free: a note never takes a seq the client would miss.
 *
 * The services check who may write before they send a command (the chat's owner or an admin:
 * src/server/staff_side.ts); this actor only refuses clients and enforces the bounds.
 */
import {
  accept,
  type DecideContext,
  type Decision,
  type Entity,
  type Envelope,
  type KvWrite,
  reject,
} from "../src/runtime/entity.ts";
import type { StaffRole } from "../src/auth/principal.ts";
import type { Caller } from "./_common.ts";

export const CHAT_STAFF = "chat_staff";

/** Bounds (the wire schemas check the same before anything reaches here). */
export const NOTE_MAX_CHARS = 4000;
export const LABELS_MAX = 10;
export const LABEL_MAX_CHARS = 32;
/** Staff members one note may mention. */
export const MENTIONS_MAX = 10;
/** Mention grants kept per chat (the oldest go first). */
export const GRANTS_MAX = 500;

/** KV projection of a chat's labels (written with the event), for listing and search. */
export const labelsKey = (chatId: string): Deno.KvKey => ["labels", chatId];

export interface ChatStaffState {
  readonly id: string;
  readonly seq: number;
  readonly labels: readonly string[];
  readonly notes: number;
  /** Staff ids mentioned in a note → the seq of the latest note that named them. */
  readonly mentioned: Readonly<Record<string, number>>;
}

export type ChatStaffCommand =
  | { type: "note"; by: Caller; text: string; mentions: string[] }
  | { type: "set_labels"; by: Caller; labels: string[] }
  | { type: "get" };

export interface ChatStaffReplies {
  note: { seq: number; at: number; mentions: string[] };
  /** `seq` is null when the labels were already these (nothing stored). */
  set_labels: { seq: number | null; labels: string[] };
  get: { seq: number; labels: string[]; notes: number; mentioned: string[] };
}

export type ChatStaffReply = ChatStaffReplies[keyof ChatStaffReplies];

export type ChatStaffEvent =
  | {
    type: "noted";
    byId: string;
    byRole: StaffRole;
    text: string;
    mentions: string[];
    at: number;
  }
  | { type: "labeled"; labels: string[]; byId: string; byRole: StaffRole; at: number };

const ID = /^[\x21-\x7e]{1,128}$/;
const CONTROL = /[\p{Cc}\p{Cf}]/u;

/** Labels as stored: trimmed, without repeats, in the order given; null when out of bounds. */
export function normalizeLabels(labels: readonly string[]): string[] | null {
  const out: string[] = [];
  for (const raw of labels) {
    const l = raw.trim();
    if (l.length < 1 || l.length > LABEL_MAX_CHARS || CONTROL.test(l)) return null;
    if (!out.includes(l)) out.push(l);
  }
  return out.length > LABELS_MAX ? null : out;
}

/**
 * The ids a note names as `@<id>` (letters, digits and `_.-:|+@`; a trailing `.`, `:` or `-` is
 * punctuation), without repeats, in order, at most {@link MENTIONS_MAX}.
 */
export function parseMentions(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?<![\w@])@([\w][\w.:|+@-]*)/g)) {
    const id = m[1].replace(/[.:@-]+$/, "");
    if (ID.test(id) && !out.includes(id)) out.push(id);
    if (out.length === MENTIONS_MAX) break;
  }
  return out;
}

function decide(
  state: ChatStaffState,
  cmd: ChatStaffCommand,
  ctx: DecideContext,
): Decision<ChatStaffEvent, ChatStaffReply> {
  if (cmd.type === "get") {
    return accept([], {
      seq: state.seq,
      labels: [...state.labels],
      notes: state.notes,
      mentioned: Object.keys(state.mentioned),
    });
  }
  if (cmd.by.role === "client") return reject("forbidden", "Notes and labels are for staff only");
  const byRole = cmd.by.role;
  if (cmd.type === "note") {
    const text = cmd.text.trim();
    if (text.length === 0 || text.length > NOTE_MAX_CHARS) {
      return reject("invalid_payload", `A note has 1 to ${NOTE_MAX_CHARS} characters`);
    }
    const mentions = [...new Set(cmd.mentions)].filter((id) => ID.test(id) && id !== cmd.by.id);
    if (mentions.length > MENTIONS_MAX) {
      return reject("invalid_payload", `A note mentions at most ${MENTIONS_MAX} people`);
    }
    const event: ChatStaffEvent = {
      type: "noted",
      byId: cmd.by.id,
      byRole,
      text,
      mentions,
      at: ctx.now,
    };
    return accept([event], { seq: ctx.nextSeq, at: ctx.now, mentions });
  }
  const labels = normalizeLabels(cmd.labels);
  if (labels === null) {
    return reject(
      "invalid_payload",
      `At most ${LABELS_MAX} labels of 1 to ${LABEL_MAX_CHARS} characters, no control characters`,
    );
  }
  if (JSON.stringify(labels) === JSON.stringify(state.labels)) {
    return accept([], { seq: null, labels });
  }
  const event: ChatStaffEvent = { type: "labeled", labels, byId: cmd.by.id, byRole, at: ctx.now };
  return accept([event], { seq: ctx.nextSeq, labels });
}

function evolve(state: ChatStaffState, event: ChatStaffEvent): ChatStaffState {
  const s = { ...state, seq: state.seq + 1 };
  if (event.type === "labeled") return { ...s, labels: event.labels };
  let mentioned = state.mentioned;
  if (event.mentions.length > 0) {
    const next: Record<string, number> = { ...mentioned };
    for (const id of event.mentions) {
      delete next[id]; // re-inserted last: the newest grants are kept
      next[id] = s.seq;
    }
    const ids = Object.keys(next);
    for (const id of ids.slice(0, Math.max(0, ids.length - GRANTS_MAX))) delete next[id];
    mentioned = next;
  }
  return { ...s, notes: state.notes + 1, mentioned };
}

/** The labels projection, in the same atomic as the event that sets them. */
function writes(
  _before: ChatStaffState,
  env: Envelope<ChatStaffEvent>,
  after: ChatStaffState,
): KvWrite[] {
  if (env.event.type !== "labeled") return [];
  return [{ op: "set", key: labelsKey(after.id), value: [...env.event.labels] }];
}

export type ChatStaffEntity = Entity<
  ChatStaffState,
  ChatStaffCommand,
  ChatStaffEvent,
  ChatStaffReply
>;

export const chatStaffEntity: ChatStaffEntity = {
  type: CHAT_STAFF,
  // The notes are the staff's history of the chat: kept whole, as the chat's own log is.
  retainEvents: true,
  initialState: (id) => ({ id, seq: 0, labels: [], notes: 0, mentioned: {} }),
  decide,
  evolve,
  writes,
};
