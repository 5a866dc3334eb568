/**
 * `deno task ops backup` and `restore`: local commands (no server involved) on the KV file and the
 * attachment folder of this machine (see src/ops/backup.ts). Paths come from the options, else
 * from KV_PATH / ATTACHMENT_STORE / ATTACHMENTS_DIR as the node reads them.
 */
import { loadConfig } from "../src/config.ts";
import { AppError } from "../src/errors.ts";
import { backup, type BackupManifest, restore } from "../src/ops/backup.ts";
import { pairs } from "./_ops_output.ts";
import type { Io } from "./ops.ts";

export const LOCAL_COMMANDS = ["backup", "restore"] as const;

export interface LocalArgs {
  readonly command: typeof LOCAL_COMMANDS[number];
  readonly positionals: readonly string[];
  readonly opt: (name: string) => string | undefined;
  readonly flag: (name: string) => boolean;
  readonly env: { get(key: string): string | undefined; toObject?(): Record<string, string> };
}

function settings(a: LocalArgs) {
  const env: Record<string, string | undefined> = {};
  for (const k of ["KV_PATH", "ATTACHMENT_STORE", "ATTACHMENTS_DIR"]) env[k] = a.env.get(k);
  const c = loadConfig(env);
  const kvPath = a.opt("kv") ?? c.KV_PATH;
  const attachmentsDir = a.opt("attachments") ??
    (c.ATTACHMENT_STORE === "s3" ? null : c.ATTACHMENTS_DIR);
  return { kvPath, attachmentsDir };
}

function stamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[:.]/g, "-");
}

function summary(verb: string, where: string, m: BackupManifest): string {
  const c = m.counts;
  return `${verb} ${where}\n` + pairs([
    ["taken at", m.created_at],
    ["source", m.source.kv_path],
    ["kv file", `${m.kv.bytes} bytes, sha256 ${m.kv.sha256.slice(0, 16)}…`],
    ["keys", c.keys],
    ["chats", c.chats],
    ["clients", c.clients],
    ["messages", c.messages],
    ["attachments", `${c.attachments} (${c.attachment_files} files, ${c.attachment_bytes} bytes)`],
    ...(c.attachments_missing
      ? [["files missing", c.attachments_missing] as [string, number]]
      : []),
    ["backup took", `${m.duration_ms} ms`],
  ]);
}

/** Runs `backup` or `restore`; returns the exit code. */
export async function runLocal(a: LocalArgs, io: Io, json: boolean): Promise<number> {
  try {
    const { kvPath, attachmentsDir } = settings(a);
    if (a.command === "backup") {
      const outDir = a.positionals[0] ?? `backups/chat-${stamp(Date.now())}`;
      const m = await backup({ kvPath, attachmentsDir, outDir });
      io.out(json ? JSON.stringify(m, null, 2) : summary("Backup written to", outDir, m));
      return 0;
    }
    const from = a.positionals[0];
    const m = await restore({ from, kvPath, attachmentsDir, force: a.flag("force") });
    io.out(
      json ? JSON.stringify(m, null, 2) : summary(`Restored ${from} to`, kvPath, m) +
        "\nStart the node on it. Erasures done after the backup was taken are not in it: run " +
        "them again (docs/OPERATIONS.md).",
    );
    return 0;
  } catch (e) {
    const err = e instanceof AppError ? `${e.code}: ${e.message}` : (e as Error).message;
    io.err(`error: ${err}`);
    return 1;
  }
}
