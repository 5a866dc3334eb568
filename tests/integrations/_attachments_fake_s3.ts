/**
 * A local fake of S3 for the attachment tests: path-style `/{bucket}/{key}`, PUT/GET/DELETE.
 * It checks SigV4 independently of the signing library (header auth for PUT/DELETE, presigned
 * query auth for GET, payload hash, host, expiry) and can be scripted to fail: 500, 503
 * SlowDown, 429, or hang (the bytes are stored but no answer comes until the client gives up).
 */
export type Behaviour = "ok" | "500" | "503" | "429" | "hang";

export interface FakeS3Options {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly region: string;
  readonly bucket: string;
  /** The fake's idea of now, for presigned expiry (ms). */
  readonly now?: () => number;
}

export interface SeenRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: Headers;
  readonly status: number;
  readonly answered: Behaviour;
}

const enc = new TextEncoder();
const hex = (b: ArrayBuffer) =>
  Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, "0")).join("");
const sha256 = async (data: Uint8Array<ArrayBuffer> | string) =>
  hex(await crypto.subtle.digest("SHA-256", typeof data === "string" ? enc.encode(data) : data));
async function hmac(key: ArrayBuffer | Uint8Array<ArrayBuffer>, msg: string) {
  const k = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  return await crypto.subtle.sign("HMAC", k, enc.encode(msg));
}
const rfc3986 = (s: string) =>
  encodeURIComponent(s).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );

const xmlError = (status: number, code: string) =>
  new Response(`<?xml version="1.0"?><Error><Code>${code}</Code></Error>`, {
    status,
    headers: { "content-type": "application/xml" },
  });

/** `20260101T000000Z` → ms. */
function parseAmzDate(s: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) return NaN;
  return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
}

export class FakeS3 {
  readonly objects = new Map<string, { bytes: Uint8Array; type: string }>();
  readonly requests: SeenRequest[] = [];
  /** Behaviours for the next requests, in order; then "ok". */
  readonly script: Behaviour[] = [];
  readonly #o: FakeS3Options;
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #closing = Promise.withResolvers<void>();
  #nextArrival = Promise.withResolvers<void>();
  #waiters: Array<{ n: number; resolve: () => void }> = [];
  /** Requests that arrived (counted before any answer; a hanging one counts too). */
  arrived = 0;

  private constructor(o: FakeS3Options) {
    this.#o = o;
    this.#server = Deno.serve(
      { port: 0, hostname: "127.0.0.1", onListen: () => {} },
      (req) => this.#handle(req),
    );
  }

  static start(o: FakeS3Options): FakeS3 {
    return new FakeS3(o);
  }

  get url(): string {
    return `http://127.0.0.1:${this.#server.addr.port}`;
  }

  get host(): string {
    return `127.0.0.1:${this.#server.addr.port}`;
  }

  /** Resolves once `n` requests have arrived (an event, not a delay). */
  arrivedAtLeast(n: number): Promise<void> {
    if (this.arrived >= n) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ n, resolve }));
  }

  async close(): Promise<void> {
    this.#closing.resolve();
    await this.#server.shutdown();
  }

  async #handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const body = new Uint8Array(await req.arrayBuffer());
    this.arrived++;
    this.#nextArrival.resolve();
    this.#nextArrival = Promise.withResolvers<void>();
    this.#waiters = this.#waiters.filter((
      w,
    ) => (w.n <= this.arrived ? (w.resolve(), false) : true));
    const behaviour = this.script.shift() ?? "ok";
    const res = await this.#answer(req, url, body, behaviour);
    this.requests.push({
      method: req.method,
      path: url.pathname,
      query: url.searchParams,
      headers: req.headers,
      status: res.status,
      answered: behaviour,
    });
    return res;
  }

  async #answer(req: Request, url: URL, body: Uint8Array<ArrayBuffer>, b: Behaviour) {
    if (b === "500") return xmlError(500, "InternalError");
    if (b === "503") return xmlError(503, "SlowDown");
    if (b === "429") {
      const res = xmlError(429, "SlowDown");
      res.headers.set("retry-after", "2");
      return res;
    }
    const denied = req.method === "GET"
      ? await this.#checkPresigned(req, url)
      : await this.#checkHeaderAuth(req, url, body);
    if (denied) return denied;
    const prefix = `/${this.#o.bucket}/`;
    if (!url.pathname.startsWith(prefix)) return xmlError(404, "NoSuchBucket");
    const key = decodeURIComponent(url.pathname.slice(prefix.length));
    if (req.method === "PUT") {
      this.objects.set(key, { bytes: body, type: req.headers.get("content-type") ?? "" });
      if (b === "hang") {
        // Stored, but the answer never comes: the client times out and retries.
        // Released by the next request (the client gave up by then) or by close().
        await Promise.race([this.#closing.promise, this.#nextArrival.promise]);
      }
      return new Response(null, { status: 200, headers: { etag: `"${await sha256(body)}"` } });
    }
    if (req.method === "DELETE") {
      return this.objects.delete(key)
        ? new Response(null, { status: 204 })
        : xmlError(404, "NoSuchKey");
    }
    const obj = this.objects.get(key);
    if (!obj) return xmlError(404, "NoSuchKey");
    const q = url.searchParams;
    return new Response(obj.bytes as Uint8Array<ArrayBuffer>, {
      headers: {
        "content-type": q.get("response-content-type") ?? obj.type,
        ...(q.has("response-content-disposition")
          ? { "content-disposition": q.get("response-content-disposition")! }
          : {}),
      },
    });
  }

  /** PUT/DELETE: `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`. */
  async #checkHeaderAuth(req: Request, url: URL, body: Uint8Array<ArrayBuffer>) {
    const m =
      /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/
        .exec(req.headers.get("authorization") ?? "");
    if (!m) return xmlError(400, "AuthorizationHeaderMalformed");
    const [, akid, day, region, signed, signature] = m;
    if (akid !== this.#o.accessKeyId) return xmlError(403, "InvalidAccessKeyId");
    const names = signed.split(";");
    for (const need of ["host", "x-amz-date", "x-amz-content-sha256"]) {
      if (!names.includes(need)) return xmlError(400, "AuthorizationHeaderMalformed");
    }
    if (req.headers.get("host") !== this.host) return xmlError(400, "InvalidHost");
    const payload = req.headers.get("x-amz-content-sha256") ?? "";
    if (payload !== "UNSIGNED-PAYLOAD" && payload !== await sha256(body)) {
      return xmlError(400, "XAmzContentSHA256Mismatch");
    }
    const date = req.headers.get("x-amz-date") ?? "";
    if (date.slice(0, 8) !== day || region !== this.#o.region) {
      return xmlError(403, "SignatureDoesNotMatch");
    }
    const expected = await this.#signature(req, url, "", names, payload, date, region);
    return expected === signature ? null : xmlError(403, "SignatureDoesNotMatch");
  }

  /** GET: presigned query (X-Amz-Algorithm, Credential, Date, Expires, SignedHeaders, Signature). */
  async #checkPresigned(req: Request, url: URL) {
    const q = url.searchParams;
    for (const k of ["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires"]) {
      if (!q.get(k)) return xmlError(403, "AccessDenied");
    }
    const signature = q.get("X-Amz-Signature");
    if (!signature || !/^[0-9a-f]{64}$/.test(signature)) return xmlError(403, "AccessDenied");
    const [akid, , region] = q.get("X-Amz-Credential")!.split("/");
    if (akid !== this.#o.accessKeyId) return xmlError(403, "InvalidAccessKeyId");
    const date = q.get("X-Amz-Date")!;
    const expiresAt = parseAmzDate(date) + Number(q.get("X-Amz-Expires")) * 1000;
    if (!(expiresAt > (this.#o.now ?? Date.now)())) return xmlError(403, "AccessDenied");
    const names = (q.get("X-Amz-SignedHeaders") ?? "").split(";");
    const query = [...q].filter(([k]) => k !== "X-Amz-Signature")
      .map(([k, v]) => [rfc3986(k), rfc3986(v)])
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${k}=${v}`).join("&");
    const expected = await this.#signature(
      req,
      url,
      query,
      names,
      "UNSIGNED-PAYLOAD",
      date,
      region,
    );
    return expected === signature ? null : xmlError(403, "SignatureDoesNotMatch");
  }

  async #signature(
    req: Request,
    url: URL,
    query: string,
    names: string[],
    payload: string,
    date: string,
    region: string,
  ): Promise<string> {
    const headers = names.map((n) =>
      `${n}:${(req.headers.get(n) ?? "").trim().replace(/\s+/g, " ")}\n`
    )
      .join("");
    const canonical = [req.method, url.pathname, query, headers, names.join(";"), payload].join(
      "\n",
    );
    const scope = `${date.slice(0, 8)}/${region}/s3/aws4_request`;
    const toSign = ["AWS4-HMAC-SHA256", date, scope, await sha256(canonical)].join("\n");
    let key: ArrayBuffer = await hmac(
      enc.encode(`AWS4${this.#o.secretAccessKey}`),
      date.slice(0, 8),
    );
    for (const part of [region, "s3", "aws4_request"]) key = await hmac(key, part);
    return hex(await hmac(key, toSign));
  }
}
