/**
 * Reads an upload from a request with a hard cap: a `Content-Length` over the limit is refused
 * before reading, and the stream is cut as soon as it passes the limit, so no more than the
 * limit (plus a little multipart framing) is ever held in memory. Two forms are accepted:
 * `multipart/form-data` with a `file` part, or the raw bytes with their `Content-Type` and the
 * name in `?name=`.
 */
import { AppError } from "../../errors.ts";
import { readCapped as readBodyCapped } from "../../server/http.ts";
import { cleanName } from "./names.ts";
import { essence } from "./sniff.ts";

/** Room for multipart boundaries and part headers around the file. */
const MULTIPART_SLACK = 64 * 1024;

export interface UploadedFile {
  readonly name: string;
  /** The declared type (`type/subtype`, lower case; "" when none was sent). */
  readonly mime: string;
  readonly bytes: Uint8Array<ArrayBuffer>;
}

function tooLarge(limit: number): AppError {
  return new AppError("file_too_large", `The file is larger than the limit of ${limit} bytes`);
}

/** At most `limit` bytes of the body; `file_too_large` as soon as there are more. */
export async function readCapped(
  body: ReadableStream<Uint8Array> | null,
  limit: number,
  fileLimit = limit,
): Promise<Uint8Array<ArrayBuffer>> {
  const bytes = await readBodyCapped(body, limit);
  if (bytes === null) throw tooLarge(fileLimit);
  return bytes;
}

export async function readUpload(
  req: Request,
  maxBytes: number,
  nameParam: string | undefined,
): Promise<UploadedFile> {
  const type = req.headers.get("content-type") ?? "";
  const multipart = essence(type) === "multipart/form-data";
  const cap = multipart ? maxBytes + MULTIPART_SLACK : maxBytes;
  const declared = Number(req.headers.get("content-length") ?? NaN);
  if (Number.isFinite(declared) && declared > cap) {
    await req.body?.cancel().catch(() => {});
    throw tooLarge(maxBytes);
  }
  const raw = await readCapped(req.body, cap, maxBytes);
  if (!multipart) return { name: cleanName(nameParam), mime: essence(type), bytes: raw };

  let form: FormData;
  try {
    form = await new Response(raw, { headers: { "content-type": type } }).formData();
  } catch {
    throw new AppError("invalid_payload", "The multipart body could not be parsed");
  }
  const file = form.get("file");
  if (!(file instanceof File)) {
    throw new AppError("invalid_payload", "The multipart body has no `file` part");
  }
  if (file.size > maxBytes) throw tooLarge(maxBytes);
  return {
    name: cleanName(nameParam ?? file.name),
    mime: essence(file.type),
    bytes: new Uint8Array(await file.arrayBuffer()),
  };
}
