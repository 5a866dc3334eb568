/**
 * The two web pages and their static assets, served from `web/`:
 * `/` (client widget), `/console` (operator console), `/embed.js` (floating chat button for any
 * page) and `/static/*` (ES modules and CSS). Every response gets a strict Content-Security-Policy:
 * scripts, styles and connections from this origin only; the widget may be framed anywhere (that
 * is what `/embed.js` does), the console nowhere.
 */
import { Hono } from "hono";
import type { Context } from "hono";

const WEB_ROOT = new URL("../web/", import.meta.url);

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json; charset=utf-8",
};

/** Only plain relative paths of known file types; no dot segments, no hidden files. */
const SAFE_PATH = /^(?:[A-Za-z0-9_-][A-Za-z0-9_.-]*\/)*[A-Za-z0-9_-][A-Za-z0-9_.-]*$/;

/** The host as the browser sent it, if it is a plain host[:port] (used in `connect-src`). */
function hostOf(c: Context): string | null {
  const host = c.req.header("host") ?? "";
  return /^[A-Za-z0-9.-]+(?::\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$/.test(host) ? host : null;
}

/**
 * The CSP for a page; `framing` is `frame-ancestors`, `imageOrigins` other origins images may
 * come from (the S3 store of attachments).
 */
export function contentSecurityPolicy(
  host: string | null,
  framing: string,
  imageOrigins: readonly string[] = [],
): string {
  // 'self' covers ws(s) to the same host in CSP 3 browsers; naming it also helps older ones.
  const sockets = host ? ` ws://${host} wss://${host}` : "";
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    ["img-src 'self' data:", ...imageOrigins].join(" "),
    "font-src 'self'",
    `connect-src 'self'${sockets}`,
    "frame-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    `frame-ancestors ${framing}`,
  ].join("; ");
}

export interface WebOptions {
  /** Origins other than this one that serve attachment images (routes/web.ts CSP). */
  readonly imageOrigins?: readonly string[];
}

async function serveFile(
  c: Context,
  relPath: string,
  framing: string,
  o: WebOptions,
  extra: Record<string, string> = {},
): Promise<Response> {
  const dot = relPath.lastIndexOf(".");
  const type = dot >= 0 ? TYPES[relPath.slice(dot)] : undefined;
  if (!type || !SAFE_PATH.test(relPath)) return notFound(c);
  let body: Uint8Array;
  try {
    body = await Deno.readFile(new URL(relPath, WEB_ROOT));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.IsADirectory) {
      return notFound(c);
    }
    throw err;
  }
  return new Response(body as Uint8Array<ArrayBuffer>, {
    status: 200,
    headers: {
      "content-type": type,
      "cache-control": "no-cache",
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
      "content-security-policy": contentSecurityPolicy(hostOf(c), framing, o.imageOrigins),
      ...extra,
    },
  });
}

function notFound(c: Context): Response {
  return c.json({
    error: { code: "not_found", message: `No file ${c.req.path}`, retryable: false },
  }, 404);
}

/** `[{ code, name }]` of every `web/locales/<code>.json`, named by its `language.name`. */
export async function localeIndex(): Promise<Array<{ code: string; name: string }>> {
  const out: Array<{ code: string; name: string }> = [];
  for await (const e of Deno.readDir(new URL("locales/", WEB_ROOT))) {
    const m = /^([a-z]{2,3}(?:-[A-Za-z0-9]{2,8})?)\.json$/.exec(e.name);
    if (!e.isFile || !m) continue;
    try {
      const cat = JSON.parse(await Deno.readTextFile(new URL(`locales/${e.name}`, WEB_ROOT)));
      out.push({ code: m[1], name: String(cat["language.name"] ?? m[1]) });
    } catch {
      // A catalogue that does not parse is left out (tests/web/i18n_test.ts fails on it).
    }
  }
  return out.sort((a, b) => a.code.localeCompare(b.code));
}

/** Mount with `app.route("/", webRoutes(options))`. */
export function webRoutes(o: WebOptions = {}): Hono {
  const app = new Hono();
  // The widget is meant to be framed by any site (see /embed.js); the console never.
  app.get("/", (c) => serveFile(c, "index.html", "*", o));
  app.get(
    "/console",
    (c) => serveFile(c, "console.html", "'none'", o, { "x-frame-options": "DENY" }),
  );
  // Loaded by <script src> from other origins.
  app.get(
    "/embed.js",
    (c) =>
      serveFile(c, "embed.js", "'none'", o, { "cross-origin-resource-policy": "cross-origin" }),
  );
  // The languages the pages can speak: one catalogue file each under web/locales/.
  app.get("/static/locales/index.json", async (c) => {
    const list = await localeIndex();
    return c.json(list, 200, { "cache-control": "no-cache", "x-content-type-options": "nosniff" });
  });
  app.get("/static/*", (c) => serveFile(c, c.req.path.slice("/static/".length), "'none'", o));
  return app;
}
