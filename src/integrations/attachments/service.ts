/**
 * Attachments: uploads checked (access like the chat's, size, type, content) and stored, their
 * metadata in KV, the resolver that turns ids in a `message` frame into attachment metadata, and
 * signed, expiring download links. Every upload gets its own id, even for identical bytes: the
 * id carries who uploaded it to which chat, which is what attaching it is checked against.
 */
import type { Attachment } from "../../../actors/session.ts";
import type { Principal } from "../../auth/principal.ts";
import { AppError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import type { Clock } from "../../runtime/clock.ts";
import type { UploadedFile } from "./body.ts";
import { isAttachmentId } from "./local_store.ts";
import { checkContent } from "./sniff.ts";
import { sha256Hex } from "../../util/crypto.ts";
import type { BlobStore, StoredAttachment } from "./store.ts";

/** What the service needs of the chat: the view call that enforces access (ChatService). */
export interface ChatAccess {
  view(p: Principal, chatId: string): Promise<{ readonly status: string }>;
}

export interface AttachmentSettings {
  readonly maxBytes: number;
  /** Allowed types, canonical (`canonicalMime`). */
  readonly allow: ReadonlySet<string>;
  /** Largest declared total of a ZIP-based upload's entries (DOCX, XLSX, ODT, ZIP…). */
  readonly maxUnzippedBytes: number;
  readonly urlTtlS: number;
  /** Uploads never attached are deleted after this long; 0 keeps them. */
  readonly orphanTtlMs: number;
  /** Uploads read at once on this node (each holds up to maxBytes in memory). */
  readonly maxInflight: number;
}

export interface AttachmentServiceOptions {
  readonly kv: Deno.Kv;
  readonly store: BlobStore;
  readonly access: ChatAccess;
  readonly clock: Clock;
  readonly log: Logger;
  readonly settings: AttachmentSettings;
}

export const metaKey = (id: string): Deno.KvKey => ["attachments", "meta", id];
export const pendingKey = (
  at: number,
  id: string,
): Deno.KvKey => ["attachments", "pending", at, id];

/** Most ids one message may carry (the inbound schema allows 10; KV reads 10 at once). */
const MAX_IDS = 10;

const brief = (m: StoredAttachment): Attachment => ({
  id: m.id,
  name: m.name,
  mime: m.mime,
  size: m.size,
});

export class AttachmentService {
  readonly #o: AttachmentServiceOptions;
  #inflight = 0;

  constructor(o: AttachmentServiceOptions) {
    this.#o = o;
  }

  get settings(): AttachmentSettings {
    return this.#o.settings;
  }

  get store(): BlobStore {
    return this.#o.store;
  }

  /** Runs one upload if this node has room for it; `overloaded` (retryable) otherwise. */
  async withUploadSlot<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#inflight >= this.#o.settings.maxInflight) {
      throw new AppError("overloaded", "Too many uploads at once; retry shortly");
    }
    this.#inflight++;
    try {
      return await fn();
    } finally {
      this.#inflight--;
    }
  }

  /** Before reading a byte: the caller may see the chat, and it is still open. */
  async checkUpload(p: Principal, chatId: string): Promise<void> {
    const view = await this.#o.access.view(p, chatId);
    if (view.status === "closed") {
      throw new AppError("chat_closed", `Chat ${chatId} is closed; files can no longer be added`);
    }
  }

  /**
   * Checks the file and stores it. The record is written first, marked `uploading`, with its
   * orphan index entry: if the bytes are stored but the answer is lost (timeout), the sweeper
   * still finds and deletes them; the record only becomes usable once the bytes are stored.
   */
  async upload(p: Principal, chatId: string, file: UploadedFile): Promise<Attachment> {
    const { settings, store, kv, clock } = this.#o;
    if (file.bytes.byteLength === 0) throw new AppError("invalid_payload", "The file is empty");
    if (file.bytes.byteLength > settings.maxBytes) {
      throw new AppError("file_too_large", `The file is larger than ${settings.maxBytes} bytes`);
    }
    const mime = await checkContent(file.mime, file.bytes, settings);
    const meta: StoredAttachment = {
      id: crypto.randomUUID(),
      chatId,
      uploaderId: p.id,
      name: file.name,
      mime,
      size: file.bytes.byteLength,
      sha256: await sha256Hex(file.bytes),
      storedAt: clock.now(),
    };
    const reserved = await kv.atomic()
      .check({ key: metaKey(meta.id), versionstamp: null })
      .set(metaKey(meta.id), { ...meta, uploading: true })
      .set(pendingKey(meta.storedAt, meta.id), meta.id)
      .commit();
    if (!reserved.ok) throw new AppError("unavailable", "The upload could not be recorded; retry");
    await store.put(meta.id, file.bytes, meta.mime);
    await kv.set(metaKey(meta.id), meta);
    return brief(meta);
  }

  async get(id: string): Promise<StoredAttachment | null> {
    if (!isAttachmentId(id)) return null;
    const meta = (await this.#o.kv.get<StoredAttachment>(metaKey(id))).value;
    return meta && !meta.uploading ? meta : null;
  }

  /**
   * The resolver of `ChatService.sendMessage`: each id must exist, belong to this chat and have
   * been uploaded by this sender. Ids may be sent again (a resent message carries the same ids).
   */
  async resolve(chatId: string, uploaderId: string, ids: readonly string[]): Promise<Attachment[]> {
    if (ids.length > MAX_IDS) {
      throw new AppError("invalid_payload", `A message carries at most ${MAX_IDS} attachments`);
    }
    if (new Set(ids).size !== ids.length) {
      throw new AppError("invalid_payload", "The same attachment is listed twice");
    }
    const out: Attachment[] = [];
    for (const id of ids) {
      const meta = await this.#attach(id, chatId, uploaderId);
      out.push(brief(meta));
    }
    return out;
  }

  /** Marks an upload as sent with a message (it is no longer an orphan); checks ownership. */
  async #attach(id: string, chatId: string, uploaderId: string): Promise<StoredAttachment> {
    for (let attempt = 0; attempt < 5; attempt++) {
      if (!isAttachmentId(id)) throw new AppError("not_found", `No attachment ${id}`);
      const entry = await this.#o.kv.get<StoredAttachment>(metaKey(id));
      const meta = entry.value;
      if (!meta || meta.uploading) throw new AppError("not_found", `No attachment ${id}`);
      if (meta.chatId !== chatId) {
        throw new AppError("forbidden", `Attachment ${id} belongs to another chat`);
      }
      if (meta.uploaderId !== uploaderId) {
        throw new AppError("forbidden", `Attachment ${id} was uploaded by someone else`);
      }
      if (meta.attachedAt !== undefined) return meta;
      const attached = { ...meta, attachedAt: this.#o.clock.now() };
      const res = await this.#o.kv.atomic()
        .check(entry)
        .set(metaKey(id), attached)
        .delete(pendingKey(meta.storedAt, id))
        .commit();
      if (res.ok) return attached;
    }
    throw new AppError("unavailable", `Attachment ${id} is busy; retry`);
  }

  /** A signed, expiring URL for the file, for a caller who may see the chat. */
  async link(p: Principal, chatId: string, id: string, base: string) {
    await this.#o.access.view(p, chatId);
    const meta = await this.get(id);
    if (!meta || meta.chatId !== chatId) {
      throw new AppError("not_found", `No attachment ${id} in chat ${chatId}`);
    }
    const expiresAtS = Math.floor(this.#o.clock.now() / 1000) + this.#o.settings.urlTtlS;
    const url = await this.#o.store.signedUrl(meta, expiresAtS, base);
    return { url, expiresAt: expiresAtS * 1000 };
  }

  /**
   * Deletes up to `limit` uploads never attached and older than the orphan TTL; returns how
   * many. Safe on several nodes at once: each deletion is conditional on the record unchanged.
   */
  async sweepOrphans(limit = 100): Promise<number> {
    const { kv, clock, settings, store, log } = this.#o;
    if (settings.orphanTtlMs <= 0) return 0;
    // Records stored at or before the cutoff are at least the TTL old (`end` is exclusive).
    const cutoff = clock.now() - settings.orphanTtlMs;
    const prefix = ["attachments", "pending"];
    let removed = 0;
    for await (const e of kv.list<string>({ prefix, end: [...prefix, cutoff + 1] }, { limit })) {
      const id = e.value;
      const entry = await kv.get<StoredAttachment>(metaKey(id));
      if (entry.value?.attachedAt !== undefined) {
        await kv.delete(e.key);
        continue;
      }
      const res = await kv.atomic().check(entry).delete(metaKey(id)).delete(e.key).commit();
      if (!res.ok) continue; // attached (or swept) meanwhile
      await store.delete(id).catch((err) => log.warn("orphan bytes not deleted", { id, err }));
      removed++;
    }
    return removed;
  }
}
