/**
 * What the data lifecycle must know of a chat before deleting it, read from its stored log: who
 * the client is, which staff and queue it touched (their logs name it and get scrubbed), which
 * files it carries, and whether and when it was closed. Kept in the purge record, so a purge cut
 * off by a crash can finish after the log itself is gone.
 */
import type { SessionEvent } from "../../actors/_session_types.ts";
import { SESSION } from "../../actors/_common.ts";
import type { Envelope } from "../runtime/entity.ts";
import { ACTORS } from "./_kv.ts";

export interface ChatFacts {
  readonly chatId: string;
  readonly clientId: string;
  readonly kind: "support" | "lawyer";
  readonly queue: string;
  /** When the chat was closed (the `closed` event's time), or null while it is open. */
  readonly closedAt: number | null;
  readonly lastSeq: number;
  /** The Telegram chat id for chats of the Telegram channel. */
  readonly telegramRef?: string;
  /** The support chat a lawyer chat belongs to, and lawyer chats opened from a support chat. */
  readonly linked: readonly string[];
  /** Staff named by the log (operators, lawyers, admins who acted in it). */
  readonly staff: readonly string[];
  /** Attachment ids its messages carry. */
  readonly attachments: readonly string[];
}

const decoder = new TextDecoder();

function decode(value: Uint8Array): Envelope<SessionEvent>[] {
  return JSON.parse(decoder.decode(value)) as Envelope<SessionEvent>[];
}

/** The chat's facts from its whole log, or null when it has no stored event. */
export async function readFacts(kv: Deno.Kv, chatId: string): Promise<ChatFacts | null> {
  const staff = new Set<string>();
  const linked = new Set<string>();
  const attachments = new Set<string>();
  let created: Extract<SessionEvent, { type: "created" }> | null = null;
  let closedAt: number | null = null;
  let lastSeq = 0;
  const addStaff = (id: string | null | undefined, role?: string) => {
    if (id && role !== "client" && !id.startsWith("queue:") && id !== "system") staff.add(id);
  };
  for await (
    const e of kv.list<Uint8Array>({ prefix: [...ACTORS, "ev", SESSION, chatId] })
  ) {
    for (const env of decode(e.value)) {
      lastSeq = env.seq;
      const ev = env.event;
      switch (ev.type) {
        case "created":
          created = ev;
          addStaff(ev.byId, ev.byRole);
          if (ev.linkedChatId) linked.add(ev.linkedChatId);
          break;
        case "assigned":
          addStaff(ev.operatorId);
          break;
        case "transferred":
          addStaff(ev.from);
          addStaff(ev.to);
          addStaff(ev.byId, ev.byRole);
          break;
        case "message":
          addStaff(ev.senderId, ev.senderRole);
          for (const a of ev.attachments ?? []) attachments.add(a.id);
          break;
        case "read":
          addStaff(ev.participantId, ev.role ?? "client");
          break;
        case "closed":
          addStaff(ev.byId, ev.byRole);
          closedAt = ev.at;
          break;
        case "lawyer_assigned":
          addStaff(ev.lawyerId);
          addStaff(ev.byId, ev.byRole);
          linked.add(ev.lawyerChatId);
          break;
        default:
          break;
      }
    }
  }
  if (created === null) return null;
  return {
    chatId,
    clientId: created.clientId,
    kind: created.kind,
    queue: created.queue,
    closedAt,
    lastSeq,
    ...(created.channel?.kind === "telegram" && created.channel.ref
      ? { telegramRef: created.channel.ref }
      : {}),
    linked: [...linked],
    staff: [...staff],
    attachments: [...attachments],
  };
}

/** Events that decide a chat's status; the others (messages, reads, ratings…) do not. */
const STATUS_EVENTS = new Set(["created", "queued", "assigned", "transferred", "closed"]);

/**
 * When the chat was closed, or null when it is open: read from the end of the log, usually one
 * chunk (after `closed` only reads, ratings and titles may follow).
 */
export async function closedAtOf(kv: Deno.Kv, chatId: string): Promise<number | null> {
  const iter = kv.list<Uint8Array>(
    { prefix: [...ACTORS, "ev", SESSION, chatId] },
    { reverse: true },
  );
  for await (const e of iter) {
    const envs = decode(e.value);
    for (let i = envs.length - 1; i >= 0; i--) {
      const ev = envs[i].event;
      if (!STATUS_EVENTS.has(ev.type)) continue;
      return ev.type === "closed" ? ev.at : null;
    }
  }
  return null;
}

/** The client of a chat from the first chunk of its log (as `nextChat` returns it). */
export function clientOfFirstChunk(first: Uint8Array): string | null {
  const env = decode(first)[0];
  return env?.event.type === "created" ? env.event.clientId : null;
}
