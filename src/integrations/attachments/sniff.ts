/**
 * What an upload really is, from its first bytes. The declared type decides how the file is
 * served (`Content-Type`), so it must agree with the content: a PNG that claims to be a PDF, or a
 * PDF that claims to be plain text, is refused. Types without a signature (plain text, CSV, …)
 * only have to not look like one of the known binary formats.
 */
import { AppError } from "../../errors.ts";

/** A known binary format and the declared types that may carry it. */
interface Signature {
  readonly family: string;
  readonly test: (b: Uint8Array) => boolean;
  readonly mimes: readonly string[];
}

const starts = (b: Uint8Array, sig: readonly number[], at = 0) =>
  b.length >= at + sig.length && sig.every((x, i) => b[at + i] === x);
const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));

const SIGNATURES: readonly Signature[] = [
  {
    family: "image/png",
    test: (b) => starts(b, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    mimes: ["image/png"],
  },
  { family: "image/jpeg", test: (b) => starts(b, [0xff, 0xd8, 0xff]), mimes: ["image/jpeg"] },
  {
    family: "image/gif",
    test: (b) => starts(b, ascii("GIF87a")) || starts(b, ascii("GIF89a")),
    mimes: ["image/gif"],
  },
  {
    family: "image/webp",
    test: (b) => starts(b, ascii("RIFF")) && starts(b, ascii("WEBP"), 8),
    mimes: ["image/webp"],
  },
  { family: "application/pdf", test: (b) => starts(b, ascii("%PDF-")), mimes: ["application/pdf"] },
  {
    // Office Open XML and OpenDocument files are ZIP archives.
    family: "zip",
    test: (b) => starts(b, [0x50, 0x4b, 0x03, 0x04]),
    mimes: [
      "application/zip",
      "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
      "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
      "application/vnd.openxmlformats-officedocument.presentationml.presentation",
      "application/vnd.oasis.opendocument.text",
      "application/vnd.oasis.opendocument.spreadsheet",
      "application/vnd.oasis.opendocument.presentation",
    ],
  },
];

/** The family of a known binary format the bytes start with, or null. */
export function sniff(bytes: Uint8Array): string | null {
  return SIGNATURES.find((s) => s.test(bytes))?.family ?? null;
}

/** A `Content-Type` value reduced to its lower-case `type/subtype`. */
export function essence(contentType: string | null | undefined): string {
  return (contentType ?? "").split(";")[0].trim().toLowerCase();
}

/**
 * Throws `invalid_payload` unless `declared` is allowed and agrees with the bytes: a type with
 * a signature must carry it, and bytes with a known signature must be declared as that format.
 */
export function checkContent(declared: string, bytes: Uint8Array, allow: ReadonlySet<string>) {
  if (declared === "") {
    throw new AppError("invalid_payload", "The file has no content type; send one");
  }
  if (!allow.has(declared)) {
    throw new AppError(
      "invalid_payload",
      `Files of type ${declared} are not allowed; allowed: ${[...allow].join(", ")}`,
    );
  }
  const expected = SIGNATURES.find((s) => s.mimes.includes(declared));
  const found = sniff(bytes);
  if (expected && found !== expected.family) {
    throw new AppError(
      "invalid_payload",
      `The file is declared as ${declared} but its content is ${found ?? "something else"}`,
    );
  }
  if (!expected && found) {
    throw new AppError(
      "invalid_payload",
      `The file is declared as ${declared} but its content is ${found}`,
    );
  }
  if (declared.startsWith("text/") && bytes.subarray(0, 8192).includes(0)) {
    throw new AppError("invalid_payload", `The file is declared as ${declared} but is binary`);
  }
}
