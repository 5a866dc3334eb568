/**
 * Where attachment bytes live: an interface with two implementations, the local disk (default,
 * offline) and S3-compatible storage. Metadata lives in KV either way (see `service.ts`).
 */

/** An uploaded file's record in KV, under `["attachments", "meta", id]`. */
export interface StoredAttachment {
  readonly id: string;
  readonly chatId: string;
  /** Principal id of who uploaded it; only they may attach it to a message. */
  readonly uploaderId: string;
  readonly name: string;
  readonly mime: string;
  readonly size: number;
  /** Hex SHA-256 of the bytes (integrity; not used for dedup: every upload gets its own id). */
  readonly sha256: string;
  /** ms since the epoch. */
  readonly storedAt: number;
  /** When it first went out with a message; unattached uploads are orphans after a while. */
  readonly attachedAt?: number;
  /** Set while the bytes are being stored; such a record is not usable yet. */
  readonly uploading?: true;
}

export interface BlobStore {
  readonly kind: "local" | "s3";
  /** Stores the bytes under the key; overwriting the same key is harmless (retries). */
  put(key: string, bytes: Uint8Array, mime: string): Promise<void>;
  /** Deletes the bytes; a missing key is not an error. */
  delete(key: string): Promise<void>;
  /**
   * A URL that serves the file to anyone holding it until `expiresAtS` (seconds since the
   * epoch). `base` is the engine's public origin (used by the local store).
   */
  signedUrl(meta: StoredAttachment, expiresAtS: number, base: string): Promise<string>;
}
