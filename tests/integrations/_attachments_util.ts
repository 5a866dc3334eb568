/** Shared bits of the attachment tests: sample files, uploads, a clock that reports its timers. */
import { ManualClock, type TimerId } from "../../src/runtime/clock.ts";

/** A valid 1×1 PNG. */
export const PNG = Uint8Array.from(
  atob(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==",
  ),
  (c) => c.charCodeAt(0),
);
/** A solid-colour RGB PNG of any size (a thumbnail one can see in screenshots). */
export async function solidPng(width: number, height: number, rgb = [37, 99, 235]) {
  const row = [0, ...Array.from({ length: width }, () => rgb).flat()]; // filter byte 0 + pixels
  const raw = new Uint8Array(Array.from({ length: height }, () => row).flat());
  const idat = new Uint8Array(
    await new Response(new Blob([raw]).stream().pipeThrough(new CompressionStream("deflate")))
      .arrayBuffer(),
  );
  const ihdr = new Uint8Array(13);
  new DataView(ihdr.buffer).setUint32(0, width);
  new DataView(ihdr.buffer).setUint32(4, height);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, no interlace
  const chunks = [chunk("IHDR", ihdr), chunk("IDAT", idat), chunk("IEND", new Uint8Array())];
  return new Uint8Array([...PNG.subarray(0, 8), ...chunks.flatMap((c) => [...c])]);
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

export function crc32(bytes: Uint8Array): number {
  let c = ~0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}

export const PDF = new TextEncoder().encode("%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n");
export const TEXT = new TextEncoder().encode("hello, this is a plain text file\n");

export interface UploadResult {
  status: number;
  body: Record<string, unknown> & { error?: { code: string; message: string; retryable: boolean } };
}

/** Multipart upload of one file part named `file`. */
export async function uploadMultipart(
  base: string,
  chatId: string,
  token: string | null,
  bytes: Uint8Array,
  mime: string,
  name = "file.bin",
): Promise<UploadResult> {
  const form = new FormData();
  form.append("file", new File([bytes as Uint8Array<ArrayBuffer>], name, { type: mime }));
  const res = await fetch(`${base}/api/v1/chat/chats/${chatId}/attachments`, {
    method: "POST",
    headers: token ? { authorization: `Bearer ${token}` } : {},
    body: form,
  });
  return { status: res.status, body: await res.json() };
}

/** Raw-body upload: the bytes with their Content-Type, the name in `?name=`. */
export async function uploadRaw(
  base: string,
  chatId: string,
  token: string,
  body: BodyInit,
  mime: string,
  name = "raw.bin",
): Promise<UploadResult> {
  const res = await fetch(
    `${base}/api/v1/chat/chats/${chatId}/attachments?name=${encodeURIComponent(name)}`,
    { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": mime }, body },
  );
  return { status: res.status, body: await res.json() };
}

/** The download endpoint's answer without following the redirect. */
export async function linkOf(
  base: string,
  path: string,
  token: string | null,
  format: "redirect" | "json" = "redirect",
): Promise<Response> {
  const url = `${base}${path}${format === "json" ? "?format=json" : ""}`;
  return await fetch(url, {
    redirect: "manual",
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
}

/** A ManualClock that lets a test wait until a timer of a given length has been set. */
export class WatchedClock extends ManualClock {
  readonly delays: number[] = [];
  #waiters: Array<{ ms: number; count: number; resolve: () => void }> = [];

  override setTimeout(fn: () => void, ms: number): TimerId {
    const id = super.setTimeout(fn, ms);
    this.delays.push(ms);
    this.#waiters = this.#waiters.filter((w) => {
      if (this.#count(w.ms) < w.count) return true;
      w.resolve();
      return false;
    });
    return id;
  }

  #count(ms: number): number {
    return this.delays.filter((d) => d === ms).length;
  }

  /** Resolves once a timer of `ms` has been set `count` times in all. */
  timerSet(ms: number, count = 1): Promise<void> {
    if (this.#count(ms) >= count) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ ms, count, resolve }));
  }
}
