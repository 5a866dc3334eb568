/**
 * What the search index keeps of a chat, derived from its stored events alone (so every node, and
 * a catch-up after a crash, derives the same): the chat's metadata (the filters and what a result
 * shows) and, per event, the text to index. Pure: no I/O.
 *
 * Indexed text: the client's name, every message (text and file names) from either side, the
 * chat's title and the rating's comment. The bot's answers are not: they are the knowledge file's
 * fixed texts, which would make every chat the bot answered match them; the client's question
 * beside them carries the topic.
 */
import type { SessionEvent, SessionStatus } from "../../../actors/session.ts";
import type { Envelope } from "../../runtime/entity.ts";

/** One chat as the index knows it (`["search","doc",chatId]`). */
export interface ChatDoc {
  /** Seq of the last event taken in: events 1…seq are in the index, none after. */
  readonly seq: number;
  readonly kind: "support" | "lawyer";
  readonly status: SessionStatus;
  readonly clientId: string;
  readonly clientName: string | null;
  /** The owner now (operator, or the lawyer of a lawyer chat); the last one once closed. */
  readonly operatorId: string | null;
  /** Everyone who held the chat, first first (the `operator_id` filter). */
  readonly operators: readonly string[];
  /** Lawyers assigned from this support chat: they may read it (absent in older docs). */
  readonly lawyers?: readonly string[];
  readonly createdAt: number;
  readonly closedAt: number | null;
  /** Time of the latest indexed event. */
  readonly updatedAt: number;
  readonly title: string | null;
  /** Labels from the chat's own events (any event with a `labels` list); the staff labels' KV
   * projection, read with each query, takes precedence (./query.ts). */
  readonly labels: readonly string[];
  readonly channel: string;
  /** The client's first message, cut: what a result shows when no message matched. */
  readonly preview: string;
  readonly messages: number;
  readonly rating: number | null;
  /** Posting keys written for this chat (what the chat costs in the index). */
  readonly postings: number;
}

/** Text of one event to index: postings carry its seq, so a hit can show that very message. */
export interface IndexText {
  readonly seq: number;
  readonly text: string;
}

export const PREVIEW_CHARS = 200;
/** A label is a short word or phrase; a chat has a handful. */
const MAX_LABELS = 20;

/** The doc after the chat's first event (`created`, seq 1), or null for any other event. */
export function newDoc(env: Envelope<SessionEvent>): ChatDoc | null {
  const e = env.event;
  if (env.seq !== 1 || e.type !== "created") return null;
  return {
    seq: 1,
    kind: e.kind,
    status: e.held ? "bot" : "none",
    clientId: e.clientId,
    clientName: e.clientName ?? e.channel?.name ?? null,
    operatorId: null,
    operators: [],
    createdAt: e.at,
    closedAt: null,
    updatedAt: e.at,
    title: null,
    labels: [],
    channel: e.channel?.kind ?? "web",
    preview: "",
    messages: 0,
    rating: null,
    postings: 0,
  };
}

/** The doc after one more event (seq = doc.seq + 1), and the text that event adds. */
export function applyEvent(
  doc: ChatDoc,
  env: Envelope<SessionEvent>,
): { doc: ChatDoc; text: string | null } {
  const e = env.event;
  const at = "at" in e && typeof e.at === "number" ? e.at : env.at;
  let d: ChatDoc = { ...doc, seq: env.seq, updatedAt: Math.max(doc.updatedAt, at) };
  let text: string | null = null;
  switch (e.type) {
    case "created":
      text = [e.clientName, e.channel?.name].filter(Boolean).join(" ") || null;
      break;
    case "queued":
      d = { ...d, status: "queued" };
      break;
    case "assigned":
      d = { ...d, status: "assigned", ...owner(d, e.operatorId) };
      break;
    case "transferred":
      d = e.to === null
        ? { ...d, status: "queued", operatorId: null }
        : { ...d, status: "assigned", ...owner(d, e.to) };
      break;
    case "message": {
      const files = (e.attachments ?? []).map((a) => a.name).join(" ");
      text = files ? `${e.text} ${files}` : e.text;
      const first = d.preview === "" && e.senderRole === "client";
      d = {
        ...d,
        messages: d.messages + 1,
        ...(first ? { preview: cut(e.text, PREVIEW_CHARS) } : {}),
      };
      break;
    }
    case "titled":
      d = { ...d, title: e.title };
      text = e.title;
      break;
    case "closed":
      d = { ...d, status: "closed", closedAt: e.at };
      break;
    case "lawyer_assigned": {
      const lawyers = d.lawyers ?? [];
      if (!lawyers.includes(e.lawyerId)) d = { ...d, lawyers: [...lawyers, e.lawyerId] };
      break;
    }
    case "rated":
      d = { ...d, rating: e.score };
      text = e.comment ?? null;
      break;
    default:
      break;
  }
  // Labels arrive on whatever event carries a `labels` list (none of today's events does).
  const labels = (e as { labels?: unknown }).labels;
  if (Array.isArray(labels)) {
    d = {
      ...d,
      labels: labels.filter((l): l is string => typeof l === "string").slice(0, MAX_LABELS),
    };
  }
  return { doc: d, text };
}

function owner(d: ChatDoc, id: string): Pick<ChatDoc, "operatorId" | "operators"> {
  return {
    operatorId: id,
    operators: d.operators.includes(id) ? d.operators : [...d.operators, id],
  };
}

function cut(text: string, max: number): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}
