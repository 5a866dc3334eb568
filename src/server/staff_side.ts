/**
 * The staff side of chats: internal notes, labels and mentions (the `chat_staff` actor), and who
 * may read a chat beyond its participants. Notes live on a stream of their own per chat (hub key
 * `staff:<chatId>`, src/server/streams.ts) that only staff connections follow, with the same
 * seq rules and gap repair as a chat's own stream, so nothing staff write can reach a client or
 * shift a client's seqs.
 *
 * Who may do what (docs/SECURITY.md):
 * - write notes and labels: the chat's owner (its operator; for a lawyer chat, its lawyer) and
 *   admins;
 * - read notes and labels: those, and staff mentioned in a note of the chat (read-only) — except
 *   lawyers, who never see the notes of a support chat;
 * - read the chat (history, client profile, transcript): participants as before, staff mentioned
 *   in its notes, and the lawyers assigned from a support chat (read-only).
 */
import {
  CHAT_STAFF,
  chatStaffEntity,
  type ChatStaffEvent,
  type ChatStaffReplies,
  parseMentions,
} from "../../actors/chat_staff.ts";
import { operatorEntity, type OperatorState } from "../../actors/operator.ts";
import type { SessionView } from "../../actors/session.ts";
import { type Principal, staffKey } from "../auth/principal.ts";
import { AppError } from "../errors.ts";
import { frame, type OutboundFrame } from "../protocol/mod.ts";
import type { Envelope } from "../runtime/entity.ts";
import type { ChatService } from "./chat_service.ts";
import type { StoredFrame } from "./hub.ts";
import type { HubOp } from "./hub_ops.ts";
import { staffStream } from "./streams.ts";

/** What a staff member may do with one chat's staff side. */
export interface ChatAccess {
  readonly view: SessionView;
  /** Write notes and set labels. */
  readonly write: boolean;
  /** Read notes and labels. */
  readonly notes: boolean;
}

const iso = (ms: number) => new Date(ms).toISOString();
const caller = (p: Principal) => ({ id: p.id, role: p.role });

export class StaffSide {
  readonly #svc: ChatService;

  constructor(svc: ChatService) {
    this.#svc = svc;
    svc.system.onCommitted((addr, envs) => {
      if (addr.type === CHAT_STAFF) {
        this.#onCommitted(addr.id, envs as Envelope<ChatStaffEvent>[]);
      }
    });
  }

  /** Staff only: what `p` may do with the staff side of the chat (403 when nothing). */
  async access(p: Principal, chatId: string): Promise<ChatAccess> {
    if (p.role === "client") throw new AppError("forbidden", "Notes and labels are for staff only");
    const view = await this.#svc.peek(chatId);
    if (p.role === "admin" || view.operatorId === p.id) return { view, write: true, notes: true };
    // Lawyers never see the notes of a support chat, mentioned or not.
    const lawyerOfSupport = p.role === "lawyer" && view.kind === "support";
    if (!lawyerOfSupport && (await this.#state(chatId)).mentioned.includes(p.id)) {
      return { view, write: false, notes: true };
    }
    if (lawyerOfSupport && view.lawyerIds?.includes(p.id)) {
      return { view, write: false, notes: false };
    }
    throw new AppError("forbidden", `User ${p.id} (${p.role}) may not see chat ${chatId}`);
  }

  /**
   * The chat's view for someone who may read it: its participants (the session decides), or the
   * staff this side lets read it (mentioned in a note, a lawyer assigned from it).
   */
  async readableView(p: Principal, chatId: string): Promise<SessionView> {
    try {
      return await this.#svc.view(p, chatId);
    } catch (err) {
      if (p.role === "client" || !(err instanceof AppError) || err.code !== "forbidden") throw err;
      return (await this.access(p, chatId)).view;
    }
  }

  /** An internal note; `@<id>` names staff members, who are told (`mention`) and may read. */
  async addNote(p: Principal, chatId: string, text: string): Promise<ChatStaffReplies["note"]> {
    const a = await this.access(p, chatId);
    if (!a.write) throw new AppError("forbidden", `Only the chat's owner and admins write notes`);
    const mentions = await this.#mentionable(parseMentions(text), a.view, p.id);
    return await this.#svc.router.ask(chatStaffEntity, chatId, {
      type: "note",
      by: caller(p),
      text,
      mentions,
    }) as ChatStaffReplies["note"];
  }

  async setLabels(
    p: Principal,
    chatId: string,
    labels: string[],
  ): Promise<ChatStaffReplies["set_labels"]> {
    const a = await this.access(p, chatId);
    if (!a.write) throw new AppError("forbidden", `Only the chat's owner and admins set labels`);
    return await this.#svc.router.ask(chatStaffEntity, chatId, {
      type: "set_labels",
      by: caller(p),
      labels,
    }) as ChatStaffReplies["set_labels"];
  }

  /** A page of the chat's notes and label changes, for staff who may read them. */
  async notes(p: Principal, chatId: string, afterSeq: number, limit: number) {
    const a = await this.access(p, chatId);
    if (!a.notes) {
      throw new AppError("forbidden", `User ${p.id} may not read the notes of ${chatId}`);
    }
    const [state, frames] = await Promise.all([
      this.#state(chatId),
      this.readFrames(chatId, afterSeq, limit + 1),
    ]);
    const page = frames.slice(0, limit);
    return {
      chat_id: chatId,
      labels: state.labels,
      events: page.map((f) => f.frame),
      next_after_seq: page.length ? page[page.length - 1].seq : afterSeq,
      has_more: frames.length > limit,
    };
  }

  /** The staff stream's last seq, for someone who may read it (403 otherwise). */
  async streamSeq(p: Principal, chatId: string): Promise<number> {
    const a = await this.access(p, chatId);
    if (!a.notes) {
      throw new AppError("forbidden", `User ${p.id} may not read the notes of ${chatId}`);
    }
    return (await this.#state(chatId)).seq;
  }

  /**
   * Stored staff-stream frames after `afterSeq` (no authorization: callers check first); none
   * when `wanted` says no by the time the read's turn comes (ChatService.readLog).
   */
  async readFrames(
    chatId: string,
    afterSeq: number,
    limit: number,
    wanted?: () => boolean,
  ): Promise<StoredFrame[]> {
    const envs = await this.#svc.readLog<ChatStaffEvent>(
      CHAT_STAFF,
      chatId,
      afterSeq,
      limit,
      wanted,
    );
    return envs.map((env) => ({ seq: env.seq, frame: staffFrame(chatId, env) }));
  }

  #state(chatId: string): Promise<ChatStaffReplies["get"]> {
    return this.#svc.router.ask(chatStaffEntity, chatId, { type: "get" }) as Promise<
      ChatStaffReplies["get"]
    >;
  }

  /**
   * The named ids that are staff known here (they have connected once), not the author, and
   * not lawyers when the chat is a support chat (they never read its notes).
   */
  async #mentionable(ids: string[], view: SessionView, author: string): Promise<string[]> {
    const known = await Promise.all(
      ids.filter((id) => id !== author).map(async (id) => {
        const s = await this.#svc.router.ask(operatorEntity, id, { type: "get" }) as OperatorState;
        if (s.role === null || (s.role === "lawyer" && view.kind === "support")) return null;
        this.#svc.names.remember(id, s.name);
        return id;
      }),
    );
    return known.filter((id): id is string => id !== null);
  }

  /** Stored staff events to the followers of the staff stream; mentions to whom they name. */
  #onCommitted(chatId: string, envs: Envelope<ChatStaffEvent>[]): void {
    const ops: HubOp[] = [];
    const key = staffStream(chatId);
    for (const env of envs) {
      ops.push({ op: "publish", chatId: key, seq: env.seq, frame: staffFrame(chatId, env) });
      if (env.event.type !== "noted") continue;
      for (const id of env.event.mentions) {
        ops.push({
          op: "user",
          user: staffKey(id),
          frame: frame("mention", {
            chat_id: chatId,
            by: env.event.byId,
            note_seq: env.seq,
            text: env.event.text,
          }),
        });
      }
    }
    this.#svc.emit(ops, chatId);
  }
}

/** One staff-stream event as the frame its followers receive; `seq` is the stream's. */
export function staffFrame(chatId: string, env: Envelope<ChatStaffEvent>): OutboundFrame {
  const base = { chat_id: chatId, seq: env.seq, timestamp: iso(env.at) };
  const e = env.event;
  if (e.type === "labeled") return frame("labels", { ...base, labels: [...e.labels], by: e.byId });
  return frame("note", {
    ...base,
    author_id: e.byId,
    author_role: e.byRole,
    text: e.text,
    mentions: [...e.mentions],
  });
}
