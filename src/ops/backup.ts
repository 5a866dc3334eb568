/**
 * Backup and restore of a node's data: the KV file and the local attachment folder.
 *
 * Deno KV's local store is one SQLite database in WAL mode, written by the node all the time, so
 * copying the file (and its `-wal`) is not a consistent copy. SQLite's `VACUUM INTO` is: it reads
 * the whole database in one read transaction — a snapshot of one moment — and writes it, compacted,
 * to a new file, while the node keeps writing (WAL readers do not block the writer). Deno ships
 * SQLite as `node:sqlite`; a read-only connection runs it.
 *
 * A backup is a folder: `chat.kv` (the copy), `attachments/` (the files the copy refers to, from
 * the local store; taken after the KV copy, so every file the copy names still exists unless it was
 * deleted meanwhile, which the manifest counts as missing), and `manifest.json` (time, source,
 * SHA-256 and size of the copy, counts of keys, chats, clients, messages and files).
 *
 * Restore writes a backup to a KV path that no running node uses: an existing file is replaced
 * only with `force`, and only after SQLite confirms nobody has it open (switching its journal mode
 * needs the only connection; a node holds one while it runs), under an exclusive lock held until
 * the new file is in place. KV Connect URLs (denokv) and `:memory:` are refused: see
 * docs/OPERATIONS.md for denokv's own backups.
 */
import { renewStoreBase } from "../integrations/search/kv.ts";
import { DatabaseSync } from "node:sqlite";
import { basename, dirname, join } from "node:path";
import { AppError } from "../errors.ts";
import type { StoredAttachment } from "../integrations/attachments/store.ts";
import { sha256Hex } from "../util/crypto.ts";
import { ACTORS, keyParts, nextChat } from "./_kv.ts";
import { CLIENT } from "../../actors/_common.ts";

export interface BackupManifest {
  readonly format: "support-chat-backup/1";
  readonly created_at: string;
  readonly duration_ms: number;
  readonly source: {
    readonly kv_path: string;
    readonly attachments: string;
    readonly host: string;
  };
  readonly kv: { readonly file: string; readonly bytes: number; readonly sha256: string };
  readonly counts: {
    readonly keys: number;
    readonly chats: number;
    readonly clients: number;
    readonly messages: number;
    readonly attachments: number;
    readonly attachment_files: number;
    readonly attachment_bytes: number;
    readonly attachments_missing: number;
  };
}

export interface BackupOptions {
  readonly kvPath: string;
  /** The local store's folder, or null (S3 or off: files are not copied). */
  readonly attachmentsDir: string | null;
  /** The backup folder to create (must not exist, or be empty). */
  readonly outDir: string;
  readonly now?: () => number;
}

const KV_FILE = "chat.kv";
const MANIFEST = "manifest.json";
const FILES = "attachments";

/** The KV path is a file on this machine (not `:memory:`, not a KV Connect URL). */
export function checkLocalKv(kvPath: string): void {
  if (kvPath === ":memory:") throw new AppError("invalid_payload", "KV_PATH is :memory:");
  if (/^https?:\/\//.test(kvPath)) {
    throw new AppError(
      "not_supported",
      `KV_PATH is a KV Connect URL (${kvPath}): back up the denokv server itself (its SQLite ` +
        "file with the same tool on its host, or its continuous backup/replication); see " +
        "docs/OPERATIONS.md",
    );
  }
}

const sqlString = (s: string) => `'${s.replaceAll("'", "''")}'`;

/** Makes a consistent backup of a KV file that a node may be writing; see the file's header. */
export async function backup(o: BackupOptions): Promise<BackupManifest> {
  checkLocalKv(o.kvPath);
  const now = o.now ?? Date.now;
  const started = performance.now();
  const createdAt = now();
  await Deno.stat(o.kvPath); // a clear NotFound before SQLite would create an empty file
  await Deno.mkdir(o.outDir, { recursive: true });
  for await (const _ of Deno.readDir(o.outDir)) {
    throw new AppError("invalid_state", `Backup folder ${o.outDir} is not empty`);
  }
  const copy = join(o.outDir, KV_FILE);
  const db = new DatabaseSync(o.kvPath, { readOnly: true });
  try {
    db.exec(`VACUUM INTO ${sqlString(copy)}`);
  } finally {
    db.close();
  }
  const keys = countKeys(copy);
  const kv = await Deno.openKv(copy);
  let counts: Omit<BackupManifest["counts"], "keys">;
  try {
    counts = await copyFiles(kv, o.attachmentsDir, join(o.outDir, FILES));
  } finally {
    kv.close();
  }
  const bytes = await Deno.readFile(copy);
  const manifest: BackupManifest = {
    format: "support-chat-backup/1",
    created_at: new Date(createdAt).toISOString(),
    duration_ms: Math.round(performance.now() - started),
    source: {
      kv_path: o.kvPath,
      attachments: o.attachmentsDir ?? "not copied (S3: the bucket's versioning is the backup)",
      host: Deno.hostname(),
    },
    kv: { file: KV_FILE, bytes: bytes.byteLength, sha256: await sha256Hex(bytes) },
    counts: { keys, ...counts },
  };
  await Deno.writeTextFile(join(o.outDir, MANIFEST), JSON.stringify(manifest, null, 2) + "\n");
  return manifest;
}

function countKeys(file: string): number {
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    return Number((db.prepare("SELECT count(*) AS n FROM kv").get() as { n: number }).n);
  } finally {
    db.close();
  }
}

/** Counts what the copy holds and copies the files its attachment records name. */
async function copyFiles(kv: Deno.Kv, from: string | null, to: string) {
  let chats = 0;
  for (let c = await nextChat(kv, null); c; c = await nextChat(kv, c.chatId)) chats++;
  const clients = new Set<string>();
  for (const part of ["ev", "sn"]) {
    for (const id of await keyParts(kv, [...ACTORS, part, CLIENT])) clients.add(String(id));
  }
  const messages = Number((await kv.get<Deno.KvU64>(["stats", "messages"])).value?.value ?? 0n);
  let attachments = 0, files = 0, bytes = 0, missing = 0;
  for await (const e of kv.list<StoredAttachment>({ prefix: ["attachments", "meta"] })) {
    attachments++;
    if (from === null || e.value.uploading) continue;
    const rel = join(e.value.id.slice(0, 2), e.value.id);
    try {
      await Deno.mkdir(join(to, e.value.id.slice(0, 2)), { recursive: true });
      await Deno.copyFile(join(from, rel), join(to, rel));
      bytes += (await Deno.stat(join(to, rel))).size;
      files++;
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
      missing++;
    }
  }
  return {
    chats,
    clients: clients.size,
    messages,
    attachments,
    attachment_files: files,
    attachment_bytes: bytes,
    attachments_missing: missing,
  };
}

export interface RestoreOptions {
  /** The backup folder. */
  readonly from: string;
  readonly kvPath: string;
  /** Where the files go (the local store's folder), or null to leave them. */
  readonly attachmentsDir: string | null;
  /** Replace an existing KV file (never one a running node has open). */
  readonly force: boolean;
}

/**
 * Whether a process has the SQLite file open: switching a WAL database's journal mode needs the
 * only connection, so it fails with "database is locked" while a node runs. Returns the probing
 * connection (its journal mode switched, which is harmless: the file is about to be replaced),
 * or null when the file is in use.
 */
function claim(path: string): DatabaseSync | null {
  const db = new DatabaseSync(path);
  try {
    db.prepare("PRAGMA journal_mode=DELETE").get();
    db.exec("BEGIN EXCLUSIVE");
    return db;
  } catch (err) {
    db.close();
    if (err instanceof Error && /locked|busy/i.test(err.message)) return null;
    throw err;
  }
}

/** Restores a backup folder to a KV path no node uses (see the file's header). */
export async function restore(o: RestoreOptions): Promise<BackupManifest> {
  checkLocalKv(o.kvPath);
  const manifest = JSON.parse(await Deno.readTextFile(join(o.from, MANIFEST))) as BackupManifest;
  if (manifest.format !== "support-chat-backup/1") {
    throw new AppError("invalid_payload", `${o.from} is not a backup of this engine`);
  }
  const bytes = await Deno.readFile(join(o.from, manifest.kv.file));
  if ((await sha256Hex(bytes)) !== manifest.kv.sha256) {
    throw new AppError(
      "invalid_payload",
      `${join(o.from, manifest.kv.file)} does not match its manifest`,
    );
  }
  const exists = await Deno.stat(o.kvPath).then(() => true, () => false);
  if (exists && !o.force) {
    throw new AppError("invalid_state", `${o.kvPath} exists; give --force to replace it`);
  }
  if (o.attachmentsDir && !o.force && !(await isEmptyDir(o.attachmentsDir))) {
    throw new AppError(
      "invalid_state",
      `${o.attachmentsDir} is not empty; give --force to add to it`,
    );
  }
  await Deno.mkdir(dirname(o.kvPath), { recursive: true });
  const lock = exists ? claim(o.kvPath) : null;
  if (exists && !lock) {
    throw new AppError(
      "invalid_state",
      `${o.kvPath} is in use (a node has it open); stop it first`,
    );
  }
  try {
    const tmp = join(dirname(o.kvPath), `.${basename(o.kvPath)}.restore-${crypto.randomUUID()}`);
    await Deno.writeFile(tmp, bytes);
    await Deno.rename(tmp, o.kvPath);
    for (const side of ["-wal", "-shm", "-journal"]) {
      await Deno.remove(o.kvPath + side).catch(() => {});
    }
  } finally {
    lock?.close();
  }
  // The restored chats are older than any search index beside them: a new store id makes the
  // next node rebuild the index from them (src/integrations/search/kv.ts).
  const restored = await Deno.openKv(o.kvPath);
  try {
    await renewStoreBase(restored);
  } finally {
    restored.close();
  }
  if (o.attachmentsDir) await copyTree(join(o.from, FILES), o.attachmentsDir);
  return manifest;
}

async function isEmptyDir(dir: string): Promise<boolean> {
  try {
    for await (const _ of Deno.readDir(dir)) return false;
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return true;
}

async function copyTree(from: string, to: string): Promise<void> {
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(from));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return;
    throw err;
  }
  await Deno.mkdir(to, { recursive: true });
  for (const e of entries) {
    if (e.isDirectory) await copyTree(join(from, e.name), join(to, e.name));
    else if (e.isFile) await Deno.copyFile(join(from, e.name), join(to, e.name));
  }
}
