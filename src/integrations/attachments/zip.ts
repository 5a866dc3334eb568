/**
 * Bounds on ZIP-based uploads (plain ZIP, DOCX, XLSX, ODT, …), checked before a file is stored:
 * the central directory is read and refused when it declares more than `maxUnzippedBytes` in all,
 * more than {@link MAX_ENTRIES} entries, an entry inflating over 100 times its stored size (Apache
 * POI's `ZipSecureFile` default, a ratio real Office files stay under), an encrypted entry, an
 * executable or macro entry, or a name escaping its folder. Then each entry is inflated with a cap
 * at its declared size, so a directory that lies about sizes is caught too; the work is bounded
 * by the declared total.
 *
 * Hand-written (about 150 lines) rather than fflate's `unzipSync` with a `filter`: fflate trusts
 * the directory's counts and offsets without checking them against the buffer, reads only part of
 * a ZIP64 count, and never compares local headers with the directory (a name that differs there
 * is a known way to smuggle an entry past a checker). Here every offset is bounds-checked and an
 * archive is refused at the first thing it cannot vouch for.
 */
import { AppError } from "../../errors.ts";

/** More entries than any document needs (file-type itself looks at 1,024 at most). */
export const MAX_ENTRIES = 10_000;
/** An entry may inflate to at most this many times its compressed size… */
export const MAX_RATIO = 100;
/** …once it is larger than this (small entries compress well without being bombs). */
export const RATIO_GRACE_BYTES = 1024 * 1024;

/** One central directory record, sizes as declared there (ZIP64 extras applied). */
export interface ZipEntry {
  readonly name: string;
  readonly flags: number;
  readonly method: number;
  readonly compressedSize: number;
  readonly size: number;
  readonly localOffset: number;
}

/** File endings that run code when opened, on Windows, macOS, Linux or Android. */
const EXECUTABLE = new Set(
  ("exe dll com scr pif cpl msi msp msc bat cmd ps1 psm1 vbs vbe js jse wsf wsh hta lnk reg scf " +
    "jar sh bash app apk dmg pkg run elf so dylib command gadget inf sys drv").split(" "),
);

const bad = (why: string) => new AppError("invalid_payload", `The archive ${why}`);

/** A printable, bounded form of an entry name for error messages. */
function shown(name: string): string {
  // deno-lint-ignore no-control-regex
  const s = name.replace(/[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, "?");
  return s.length > 80 ? `${s.slice(0, 80)}…` : s;
}

/** The central directory's records; throws `invalid_payload` when the structure is not sound. */
export function readZipDirectory(bytes: Uint8Array): ZipEntry[] {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (at: number) => v.getUint16(at, true);
  const u32 = (at: number) => v.getUint32(at, true);
  /** An 8-byte offset or count: never past the end of the file. */
  const u64 = (at: number) => {
    const n = v.getBigUint64(at, true);
    if (n > BigInt(bytes.length)) throw bad("declares an offset or count past its end");
    return Number(n);
  };
  /** An 8-byte size: any value, kept exact up to 2^53. */
  const size64 = (at: number) => Number(v.getBigUint64(at, true));
  // The end record: 22 bytes plus a comment of up to 65,535, the last thing in the file.
  let end = -1;
  for (let at = bytes.length - 22; at >= Math.max(0, bytes.length - 22 - 65_535); at--) {
    if (u32(at) === 0x06054b50 && at + 22 + u16(at + 20) <= bytes.length) {
      end = at;
      break;
    }
  }
  if (end < 0) throw bad("has no central directory (damaged or not a ZIP file)");
  if (u16(end + 4) !== 0 || u16(end + 6) !== 0) throw bad("spans several disks");
  let count = u16(end + 10);
  let dirSize = u32(end + 12);
  let dirAt = u32(end + 16);
  let dirLimit = end;
  if (count === 0xffff || dirSize === 0xffffffff || dirAt === 0xffffffff) {
    // ZIP64: a locator right before the end record points at the ZIP64 end record.
    if (end < 20 || u32(end - 20) !== 0x07064b50) throw bad("has a damaged ZIP64 directory");
    const z = u64(end - 12);
    if (z + 56 > end - 20 || u32(z) !== 0x06064b50) throw bad("has a damaged ZIP64 directory");
    count = u64(z + 32);
    dirSize = u64(z + 40);
    dirAt = u64(z + 48);
    dirLimit = z;
  }
  if (count > MAX_ENTRIES) throw bad(`has ${count} entries (at most ${MAX_ENTRIES})`);
  if (dirAt + dirSize > dirLimit) throw bad("has a central directory out of place");
  const entries: ZipEntry[] = [];
  let p = dirAt;
  while (p < dirAt + dirSize) {
    if (p + 46 > dirLimit || u32(p) !== 0x02014b50) throw bad("has a damaged central directory");
    const nameLen = u16(p + 28), extraLen = u16(p + 30), commentLen = u16(p + 32);
    const next = p + 46 + nameLen + extraLen + commentLen;
    if (next > dirAt + dirSize) throw bad("has a damaged central directory");
    let compressedSize = u32(p + 20), size = u32(p + 24), localOffset = u32(p + 42);
    // ZIP64 extra field (id 1): 8-byte values for the fields set to 0xffffffff, in this order.
    for (let x = p + 46 + nameLen; x + 4 <= p + 46 + nameLen + extraLen;) {
      const id = u16(x), len = u16(x + 2);
      if (id === 1) {
        let f = x + 4;
        const field = (read: (at: number) => number) =>
          f + 8 <= x + 4 + len ? (f += 8, read(f - 8)) : NaN;
        if (size === 0xffffffff) size = field(size64);
        if (compressedSize === 0xffffffff) compressedSize = field(size64);
        if (localOffset === 0xffffffff) localOffset = field(u64);
      }
      x += 4 + len;
    }
    if ([size, compressedSize, localOffset].some(Number.isNaN)) throw bad("has a damaged entry");
    const name = new TextDecoder().decode(bytes.subarray(p + 46, p + 46 + nameLen));
    entries.push({
      name,
      flags: u16(p + 8),
      method: u16(p + 10),
      compressedSize,
      size,
      localOffset,
    });
    if (entries.length > count) break;
    p = next;
  }
  if (entries.length !== count) throw bad("says it has more or fewer entries than it lists");
  return entries;
}

/** Why an entry's name is refused, or null: paths must stay inside the archive's folder. */
export function unsafeEntryName(name: string): string | null {
  // deno-lint-ignore no-control-regex
  if (name === "" || /[\x00-\x1f\x7f]/.test(name)) return "has an entry with a malformed name";
  const path = name.replaceAll("\\", "/");
  if (path.startsWith("/") || /^[a-zA-Z]:/.test(path) || path.split("/").includes("..")) {
    return `has an entry whose path leaves its folder (${shown(name)})`;
  }
  const base = path.split("/").pop() ?? "";
  const ext = /\.([^.]+)$/.exec(base.replace(/[. ]+$/, ""))?.[1]?.toLowerCase();
  if (ext && EXECUTABLE.has(ext)) return `holds an executable file (${shown(name)})`;
  // Office (VBA) and OpenDocument (Basic) macros: documents only, no code.
  if (base.toLowerCase() === "vbaproject.bin" || /^basic\//i.test(path)) {
    return `holds macros (${shown(name)})`;
  }
  return null;
}

/**
 * Throws `invalid_payload` unless the archive is within the bounds above. The archive's bytes
 * are read in place; at most `maxUnzippedBytes` are inflated, a chunk at a time, and dropped.
 */
export async function checkArchive(bytes: Uint8Array, maxUnzippedBytes: number): Promise<void> {
  const entries = readZipDirectory(bytes);
  let total = 0;
  for (const e of entries) {
    const why = unsafeEntryName(e.name);
    if (why) throw bad(why);
    if (e.flags & 1) {
      throw bad(`holds an encrypted entry (${shown(e.name)}), which cannot be checked`);
    }
    if (e.method !== 0 && e.method !== 8) {
      throw bad(`uses compression method ${e.method} (${shown(e.name)}); only stored and deflate`);
    }
    total += e.size;
  }
  if (total > maxUnzippedBytes) {
    throw bad(`unpacks to more than ${maxUnzippedBytes} bytes (ATTACHMENT_MAX_UNZIPPED_BYTES)`);
  }
  for (const e of entries) {
    if (e.size > RATIO_GRACE_BYTES && e.size > e.compressedSize * MAX_RATIO) {
      throw bad(`has an entry that inflates over ${MAX_RATIO} times (${shown(e.name)})`);
    }
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const byOffset = [...entries].sort((a, b) => a.localOffset - b.localOffset);
  for (const [i, e] of byOffset.entries()) {
    const at = e.localOffset;
    if (at + 30 > bytes.length || v.getUint32(at, true) !== 0x04034b50) {
      throw bad(`has a damaged entry (${shown(e.name)})`);
    }
    const nameLen = v.getUint16(at + 26, true);
    const local = new TextDecoder().decode(bytes.subarray(at + 30, at + 30 + nameLen));
    if (local !== e.name) throw bad(`names an entry differently in two places (${shown(e.name)})`);
    const start = at + 30 + nameLen + v.getUint16(at + 28, true);
    const stop = start + e.compressedSize;
    const nextAt = byOffset[i + 1]?.localOffset ?? bytes.length;
    if (stop > nextAt) throw bad(`has overlapping or truncated entries (${shown(e.name)})`);
    const data = bytes.subarray(start, stop);
    const size = e.method === 0 ? data.length : await inflatedSize(data, e.size);
    if (size !== e.size) {
      throw bad(`has an entry whose size differs from what it declares (${shown(e.name)})`);
    }
  }
}

/** The inflated size of raw deflate data, or `cap + 1` as soon as it passes `cap`. */
async function inflatedSize(data: Uint8Array, cap: number): Promise<number> {
  const reader = new Blob([data as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new DecompressionStream("deflate-raw")).getReader();
  let size = 0;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) return size;
      size += value.byteLength;
      if (size > cap) {
        await reader.cancel().catch(() => {});
        return cap + 1;
      }
    }
  } catch {
    throw bad("has an entry whose data is damaged");
  }
}
