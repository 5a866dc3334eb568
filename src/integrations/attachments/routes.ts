/**
 * REST of the attachments, under `/api/v1/chat`:
 * - `POST /chats/{chat_id}/attachments`: upload (multipart `file`, or raw bytes + `?name=`);
 * - `GET /chats/{chat_id}/attachments/{id}`: a 302 to a signed, expiring URL (or `{url,
 *   expires_at}` with `?format=json`), for a token that may see the chat;
 * - `GET /files/{id}?exp=&sig=`: the bytes, local store only (the signature is the credential).
 * The upload is declared in the OpenAPI document by hand: a generated validator would read the
 * whole body before the size cap could act.
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { Authenticator } from "../../auth/mod.ts";
import type { Config } from "../../config.ts";
import { AppError } from "../../errors.ts";
import { type ApiEnv, authed, ERRORS, ErrorSchema, json, SECURITY } from "../../server/openapi.ts";
import { readUpload } from "./body.ts";
import type { LocalStore } from "./local_store.ts";
import type { AttachmentService } from "./service.ts";
import { contentDisposition } from "./names.ts";

const tags = ["attachments"];

const AttachmentSchema = z.object({
  id: z.string(),
  name: z.string(),
  mime: z.string(),
  size: z.number().int(),
}).openapi("Attachment");

const LinkSchema = z.object({
  url: z.string().openapi({ description: "Signed URL; anyone holding it may download" }),
  expires_at: z.string().openapi({ description: "ISO-8601 time the URL stops working" }),
}).openapi("AttachmentLink");

const ChatParam = z.object({ chat_id: z.string().min(1).max(128) });
const binary = z.string().openapi({ type: "string", format: "binary" });

export interface AttachmentRouteDeps {
  readonly service: AttachmentService;
  readonly auth: Authenticator;
  readonly config: Config;
  /** The local store serves `/files/{id}`; with S3 the signed URL points at the storage. */
  readonly local: LocalStore | null;
  readonly now: () => number;
}

const baseOf = (c: Context, config: Config) => config.PUBLIC_URL ?? new URL(c.req.url).origin;

export function attachmentRoutes(api: OpenAPIHono<ApiEnv>, d: AttachmentRouteDeps): void {
  upload(api, d);
  link(api, d);
  if (d.local) files(api, d, d.local);
}

function upload(api: OpenAPIHono<ApiEnv>, d: AttachmentRouteDeps): void {
  const path = "/chats/{chat_id}/attachments";
  api.openAPIRegistry.registerPath({
    method: "post",
    path,
    summary: "Upload a file to attach to a message (then send its id in `message.attachments`)",
    tags,
    security: SECURITY,
    request: {
      params: ChatParam,
      query: z.object({ name: z.string().optional() }),
      body: {
        required: true,
        content: {
          "multipart/form-data": { schema: z.object({ file: binary }) },
          "application/octet-stream": { schema: binary },
        },
      },
    },
    responses: {
      201: json(AttachmentSchema, "Stored"),
      ...ERRORS,
      413: json(ErrorSchema, "`file_too_large`"),
      503: json(ErrorSchema, "`unavailable` or `overloaded` (retryable): storage or node busy"),
      504: json(ErrorSchema, "`timeout` (retryable): storage did not answer"),
    },
  });
  api.post(path.replace("{chat_id}", ":chat_id"), authed(d.auth), async (c) => {
    const chatId = c.req.param("chat_id") ?? "";
    if (chatId === "" || chatId.length > 128) {
      throw new AppError("invalid_payload", "chat_id must be 1 to 128 characters");
    }
    const p = c.get("principal");
    const stored = await d.service.withUploadSlot(async () => {
      await d.service.checkUpload(p, chatId);
      const file = await readUpload(c.req.raw, d.service.settings.maxBytes, c.req.query("name"));
      return await d.service.upload(p, chatId, file);
    });
    return c.json(stored, 201);
  });
}

function link(api: OpenAPIHono<ApiEnv>, d: AttachmentRouteDeps): void {
  const route = createRoute({
    method: "get",
    path: "/chats/{chat_id}/attachments/{id}",
    summary: "Download: a 302 to a signed, expiring URL, or `{url, expires_at}` with format=json",
    tags,
    security: SECURITY,
    middleware: [authed(d.auth)] as const,
    request: {
      params: ChatParam.extend({ id: z.string().min(1).max(128) }),
      query: z.object({ format: z.enum(["redirect", "json"]).default("redirect") }),
    },
    responses: {
      200: json(LinkSchema, "The signed URL (format=json)"),
      302: { description: "Redirect to the signed URL" },
      ...ERRORS,
    },
  });
  api.openapi(route, async (c) => {
    const { chat_id, id } = c.req.valid("param");
    const p = c.get("principal");
    const r = await d.service.link(p, chat_id, id, baseOf(c, d.config));
    c.header("cache-control", "no-store");
    if (c.req.valid("query").format === "json") {
      return c.json({ url: r.url, expires_at: new Date(r.expiresAt).toISOString() }, 200);
    }
    return c.redirect(r.url, 302);
  });
}

function files(api: OpenAPIHono<ApiEnv>, d: AttachmentRouteDeps, local: LocalStore): void {
  const route = createRoute({
    method: "get",
    path: "/files/{id}",
    summary: "The file behind a signed link (local store); 403 when expired or tampered",
    tags,
    request: {
      params: z.object({ id: z.string().min(1).max(128) }),
      query: z.object({ exp: z.coerce.number().int(), sig: z.string().min(1).max(128) }),
    },
    responses: {
      200: {
        description: "The bytes",
        content: { "application/octet-stream": { schema: binary } },
      },
      400: ERRORS[400],
      403: ERRORS[403],
      404: ERRORS[404],
    },
  });
  api.openapi(route, async (c) => {
    const { id } = c.req.valid("param");
    const { exp, sig } = c.req.valid("query");
    if (!(await local.verify(id, exp, sig))) {
      throw new AppError("forbidden", "The download link is not valid");
    }
    const left = exp - Math.floor(d.now() / 1000);
    if (left <= 0) throw new AppError("forbidden", "The download link has expired");
    const meta = await d.service.get(id);
    const file = meta && await local.open(id);
    if (!meta || !file) throw new AppError("not_found", `No attachment ${id}`);
    return new Response(file.readable, {
      status: 200,
      headers: {
        "content-type": meta.mime,
        "content-length": String(meta.size),
        "content-disposition": contentDisposition(meta.name),
        "x-content-type-options": "nosniff",
        "content-security-policy": "default-src 'none'; sandbox",
        "referrer-policy": "no-referrer",
        "cache-control": `private, max-age=${left}`,
      },
    });
  });
}
