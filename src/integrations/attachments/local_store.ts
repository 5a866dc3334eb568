/**
 * The offline default: files on local disk under `ATTACHMENTS_DIR/<first 2 chars>/<id>`, served
 * by the engine itself at `/api/v1/chat/files/{id}?exp=…&sig=…` (see `routes.ts`). In a cluster
 * the folder must be shared by every node (or use the S3 store).
 */
import { join } from "node:path";
import type { BlobStore, StoredAttachment } from "./store.ts";
import type { UrlSigner } from "./signing.ts";

/** Keys are ids the service made (UUIDs); anything else never reaches the file system. */
const SAFE_KEY = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isAttachmentId(id: string): boolean {
  return SAFE_KEY.test(id);
}

export class LocalStore implements BlobStore {
  readonly kind = "local" as const;
  readonly #dir: string;
  readonly #signer: UrlSigner;

  constructor(dir: string, signer: UrlSigner) {
    this.#dir = dir;
    this.#signer = signer;
  }

  #path(key: string): string {
    if (!SAFE_KEY.test(key)) throw new Error(`Not an attachment key: ${key}`);
    return join(this.#dir, key.slice(0, 2), key);
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    const path = this.#path(key);
    await Deno.mkdir(join(this.#dir, key.slice(0, 2)), { recursive: true });
    // Write then rename: a reader never sees half a file, a crash leaves only a .tmp behind.
    const tmp = `${path}.${crypto.randomUUID()}.tmp`;
    try {
      await Deno.writeFile(tmp, bytes);
      await Deno.rename(tmp, path);
    } catch (err) {
      await Deno.remove(tmp).catch(() => {});
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await Deno.remove(this.#path(key));
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  }

  /** The file for the download route; null when it is gone. */
  async open(key: string): Promise<Deno.FsFile | null> {
    try {
      return await Deno.open(this.#path(key), { read: true });
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return null;
      throw err;
    }
  }

  async signedUrl(meta: StoredAttachment, expiresAtS: number, base: string): Promise<string> {
    const sig = await this.#signer.sign(meta.id, expiresAtS);
    const origin = base.replace(/\/+$/, "");
    return `${origin}/api/v1/chat/files/${meta.id}?exp=${expiresAtS}&sig=${sig}`;
  }

  verify(id: string, expS: number, sig: string): Promise<boolean> {
    return this.#signer.verify(id, expS, sig);
  }
}
