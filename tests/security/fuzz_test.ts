/**
 * A bounded, seeded fuzzer (fast-check) against an in-process server: any unhandled rejection
 * fails the run. Replay a failure with the seed in the test's name (and the `path` fast-check
 * prints).
 *
 * - WebSocket: structurally valid envelopes of every inbound type with mutated payloads (wrong
 *   types, huge strings, deep nesting, unicode, numbers as ids, missing and extra fields), random
 *   bytes as text and JSON of random shapes, sent by a client, an operator and an admin. Every
 *   answer is `ack`/`error`/`pong` echoing the frame's valid ref (or, without one, exactly one
 *   ref-less answer per frame), every frame the server sends matches the outbound schema, the
 *   connection stays open (frames over MAX_FRAME_BYTES excepted: 1009, then a reconnect).
 * - REST: bodies for every POST/PUT/PATCH route of the served OpenAPI document, sent as anonymous,
 *   client, operator and admin: no status >= 500 but the retryable 501/503/504, and every error
 *   body is `{error:{code,message,retryable}}`.
 * - Alongside, a well-behaved chat whose every acked message stays stored exactly once.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { ERROR_CODES } from "../../src/errors.ts";
import { INBOUND_TYPES, parseInbound } from "../../src/protocol/inbound.ts";
import { type Frame, startTestServer, type TestServer, WsClient } from "../integration/_harness.ts";
import { Bystander, codeOf, Http } from "./_hostile.ts";

const SEED = 0x5ec0de;
const WS_RUNS = 4_000;
const REST_RUNS = 3_000;
const MAX_FRAME_BYTES = 65_536;
const enc = new TextEncoder();
const dec = new TextDecoder();
/** 5xx a client may see: coded and retryable (or, for 501, a feature this node does not have). */
const ALLOWED_5XX: Record<number, string[]> = {
  501: ["not_supported"],
  503: ["unavailable", "overloaded"],
  504: ["timeout"],
};

interface Fixture {
  server: TestServer;
  http: Http;
  bystander: Bystander;
  dir: string;
  /** Ids the fuzzer may name: its own chat, victims, users; never the bystander's. */
  ids: string[];
  tokens: { client: string; operator: string; admin: string };
  fuzzChat: string;
}

async function setUp(tag: string): Promise<Fixture> {
  const dir = await Deno.makeTempDir({ prefix: "chat-fuzz-" });
  const server = await startTestServer({
    RATE_LIMIT_PER_MIN: "1000000",
    ATTACHMENTS_DIR: `${dir}/attachments`,
  });
  const http = new Http();
  const bystander = await Bystander.start(http, server.url, tag);
  const victims = [await server.createChat("victim-1"), await server.createChat("victim-2")];
  const fuzz = await server.createChat("fuzz-client");
  const operator = await server.staffToken("fuzz-op");
  const admin = await server.staffToken("fuzz-admin", "admin");
  return {
    server,
    http,
    bystander,
    dir,
    ids: [
      fuzz.chat_id,
      ...victims.map((v) => v.chat_id),
      "fuzz-op",
      "fuzz-admin",
      "fuzz-client",
      "lawyer-1",
    ],
    tokens: { client: fuzz.client_token, operator, admin },
    fuzzChat: fuzz.chat_id,
  };
}

async function tearDown(f: Fixture): Promise<void> {
  try {
    await f.bystander.close();
  } finally {
    f.http.close();
    await f.server.shutdown();
    await Deno.remove(f.dir, { recursive: true }).catch(() => {});
  }
}

// ---- Value generators ---------------------------------------------------------------------------

/** Nested arrays or objects, `n` levels. */
function nest(n: number, arrays: boolean): unknown {
  let v: unknown = 1;
  for (let i = 0; i < n; i++) v = arrays ? [v] : { k: v };
  return v;
}

const huge = fc.tuple(
  fc.constantFrom(65, 129, 501, 2_001, 4_001, 12_000, 40_000),
  fc.constantFrom("a", "é", "€", "😀", "\u0000", "\ud800"),
).map(([n, c]) => c.repeat(Math.ceil(n / c.length)));

const nested = fc.tuple(fc.integer({ min: 1, max: 60 }), fc.boolean())
  .map(([n, arrays]) => nest(n, arrays));

function idArb(pool: string[]) {
  return fc.oneof(
    { weight: 10, arbitrary: fc.constantFrom(...pool) },
    fc.string({ maxLength: 12 }),
    fc.string({ unit: "grapheme", maxLength: 12 }),
    fc.integer(),
    fc.double(),
    fc.constantFrom(-1, 0, Number.MAX_SAFE_INTEGER + 2, "x".repeat(129), "c".repeat(3000), "", " "),
  );
}

function evilArb(pool: string[]): fc.Arbitrary<unknown> {
  return fc.oneof(
    fc.constantFrom(null, true, false, 0, -1, 1.5, {}, [], "", "null", "{}"),
    fc.integer(),
    fc.double(),
    fc.string({ maxLength: 30 }),
    fc.string({ unit: "grapheme", maxLength: 30 }),
    fc.string({ unit: "binary", maxLength: 30 }),
    huge,
    nested,
    fc.jsonValue({ maxDepth: 3 }),
    idArb(pool),
  );
}

/** A valid payload of each inbound type, naming `id` where it names a chat. */
function basePayload(type: string, id: unknown, token: string): Record<string, unknown> {
  switch (type) {
    case "message":
      return { chat_id: id, text: "fuzz says hi", client_msg_id: `cm-${crypto.randomUUID()}` };
    case "accept_chat":
      return { chat_id: id };
    case "transfer_chat":
      return { chat_id: id, to_queue: true, reason: "fuzz" };
    case "assign_lawyer":
      return { chat_id: id, lawyer_id: "lawyer-1" };
    case "typing":
      return { chat_id: id, is_typing: true };
    case "read":
      return { chat_id: id, seq: 1 };
    case "resume":
      return { chat_id: id, last_seq: 1_000_000 };
    case "close_chat":
      return { chat_id: id, reason: "fuzz" };
    case "rate":
      return { chat_id: id, score: 4, comment: "fuzz" };
    case "set_status":
      return { status: "online" };
    case "pong":
      return { id: "h1" };
    case "refresh_token":
      return { token };
    default:
      return {};
  }
}

type Mutation =
  | { kind: "delete"; at: number }
  | { kind: "set"; at: number; value: unknown }
  | { kind: "extra"; key: string; value: unknown };

/** Sets an own property, also `__proto__` (which plain assignment would not make a field). */
function put(o: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
}

function applyMutations(p: Record<string, unknown>, ms: Mutation[]): Record<string, unknown> {
  const out = { ...p };
  for (const m of ms) {
    const keys = Object.keys(out);
    if (m.kind === "extra") put(out, m.key, m.value);
    else if (keys.length === 0) continue;
    else if (m.kind === "delete") delete out[keys[m.at % keys.length]];
    else out[keys[m.at % keys.length]] = m.value;
  }
  return out;
}

type Who = "client" | "operator" | "admin";

/** What the fuzzer sends: a frame's text, made when the run's number is known. */
interface FrameCase {
  who: Who;
  describe: string;
  text: (n: number, tokens: Fixture["tokens"]) => string;
}

function frameArb(pool: string[]): fc.Arbitrary<FrameCase> {
  const evil = evilArb(pool);
  const mutation: fc.Arbitrary<Mutation> = fc.oneof(
    fc.record({ kind: fc.constant("delete" as const), at: fc.nat() }),
    fc.record({ kind: fc.constant("set" as const), at: fc.nat(), value: evil }),
    fc.record({
      kind: fc.constant("extra" as const),
      key: fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom("__proto__", "constructor")),
      value: evil,
    }),
  );
  // How the ref is given: a fresh valid one, a unicode one made unique, none, or an invalid one.
  const refMode = fc.oneof(
    { weight: 5, arbitrary: fc.constant({ mode: "fresh" as const }) },
    {
      weight: 1,
      arbitrary: fc.string({ unit: "grapheme", maxLength: 20 }).map((s) => ({
        mode: "unicode" as const,
        prefix: s.slice(0, 40),
      })),
    },
    { weight: 1, arbitrary: fc.constant({ mode: "none" as const }) },
    {
      weight: 1,
      arbitrary: fc.oneof(
        fc.constantFrom("", "r".repeat(65), null, 7, {}, []),
        fc.integer(),
      ).map((value) => ({ mode: "invalid" as const, value })),
    },
  );
  const who = fc.constantFrom<Who>("client", "operator", "admin");
  const envelope = fc.record({
    who,
    type: fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom(...INBOUND_TYPES) },
      { weight: 1, arbitrary: fc.string({ maxLength: 15 }) },
      { weight: 1, arbitrary: evil },
    ),
    id: idArb(pool),
    // Some envelopes stay valid (so the handlers behind the parser run too), most are mutated.
    mutations: fc.oneof(
      { weight: 2, arbitrary: fc.constant<Mutation[]>([]) },
      { weight: 3, arbitrary: fc.array(mutation, { minLength: 1, maxLength: 4 }) },
    ),
    payloadMode: fc.oneof(
      { weight: 8, arbitrary: fc.constant("mutated" as const) },
      { weight: 1, arbitrary: fc.constant("missing" as const) },
      { weight: 1, arbitrary: fc.constant("evil" as const) },
    ),
    evilPayload: evil,
    ref: refMode,
    extraEnvelope: fc.option(fc.tuple(fc.string({ maxLength: 8 }), evil), { nil: undefined }),
  }).map((e): FrameCase => ({
    who: e.who,
    describe: `envelope ${
      JSON.stringify(e.type)?.slice(0, 40)
    } (${e.payloadMode}, ref ${e.ref.mode})`,
    text: (n, tokens) => {
      const type = e.type;
      const frame: Record<string, unknown> = { type };
      if (e.payloadMode === "mutated") {
        const token = tokens[e.who];
        frame.payload = applyMutations(basePayload(String(type), e.id, token), e.mutations);
      } else if (e.payloadMode === "evil") frame.payload = e.evilPayload;
      if (e.ref.mode === "fresh") frame.ref = `f${n}`;
      else if (e.ref.mode === "unicode") frame.ref = `${e.ref.prefix}#${n}`;
      else if (e.ref.mode === "invalid") frame.ref = e.ref.value;
      if (e.extraEnvelope) put(frame, e.extraEnvelope[0], e.extraEnvelope[1]);
      return JSON.stringify(frame);
    },
  }));
  const raw = (describe: string, arb: fc.Arbitrary<string>) =>
    fc.record({ who, text: arb }).map((r): FrameCase => ({
      who: r.who,
      describe,
      text: () => r.text,
    }));
  return fc.oneof(
    { weight: 12, arbitrary: envelope },
    {
      weight: 1,
      arbitrary: raw("random bytes", fc.uint8Array({ maxLength: 300 }).map((b) => dec.decode(b))),
    },
    { weight: 1, arbitrary: raw("random text", fc.string({ unit: "binary", maxLength: 300 })) },
    {
      weight: 1,
      arbitrary: raw("random JSON", fc.jsonValue({ maxDepth: 5 }).map((v) => JSON.stringify(v))),
    },
    {
      weight: 1,
      arbitrary: raw(
        "an object of random shape",
        fc.dictionary(fc.constantFrom("type", "payload", "ref", "x"), fc.jsonValue({ maxDepth: 3 }))
          .map((v) => JSON.stringify(v)),
      ),
    },
  );
}

/** Nesting depth of a decoded JSON value (an object or array at the top is depth 1). */
function depthOf(v: unknown): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[v, 1]];
  while (stack.length > 0) {
    const [x, d] = stack.pop()!;
    if (typeof x !== "object" || x === null) continue;
    max = Math.max(max, d);
    for (const c of Array.isArray(x) ? x : Object.values(x)) stack.push([c, d + 1]);
  }
  return max;
}

/**
 * What the server must answer: its ref when the frame is a JSON object with a valid ref (1-64
 * characters), and whether there is an answer at all (a valid `pong` gets none). Frames nested
 * deeper than 32 are refused before they are parsed, so no ref is read from them (a separate
 * test below holds that against PROTOCOL.md).
 */
function expectation(text: string): { ref: string | null; reply: boolean; type: unknown } {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { ref: null, reply: true, type: undefined };
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    return { ref: null, reply: true, type: undefined };
  }
  const o = v as Record<string, unknown>;
  const ref = typeof o.ref === "string" && o.ref.length >= 1 && o.ref.length <= 64 ? o.ref : null;
  if (depthOf(v) > 32) {
    // Refused before it is parsed, yet a plain top-level ref (no escapes) is still echoed.
    const plain = ref !== null && !JSON.stringify(ref).slice(1, -1).includes("\\");
    return { ref: plain ? ref : null, reply: true, type: undefined };
  }
  const parsed = parseInbound(text);
  const silent = parsed.ok && parsed.frame.type === "pong";
  return { ref, reply: !silent, type: o.type };
}

const isAnswer = (f: Frame) => f.type === "ack" || f.type === "error" || f.type === "pong";

function checkAnswer(f: Frame, what: string, type: unknown): void {
  assert.ok(isAnswer(f), `${what}: answered with ${JSON.stringify(f)}`);
  if (f.type === "error") {
    const code = f.payload.code as string;
    assert.ok(
      Object.hasOwn(ERROR_CODES, code) && code !== "internal",
      `${what}: ${JSON.stringify(f)}`,
    );
    assert.equal(typeof f.payload.message, "string");
    assert.equal(f.payload.retryable, ERROR_CODES[code as keyof typeof ERROR_CODES].retryable);
  }
  if (f.type === "ack") assert.equal(f.payload.for, type, `${what}: ${JSON.stringify(f)}`);
}

class Peer {
  ws!: WsClient;
  /** Index in `ws.frames` after the last ref-less answer counted. */
  cursor = 0;
  constructor(readonly who: Who, readonly url: string) {}

  async connect(): Promise<void> {
    this.ws = await WsClient.connect(this.url);
    this.cursor = 0;
  }

  /** Waits for the next ref-less answer (the answer to a frame without a readable ref). */
  async nextRefless(what: string): Promise<Frame> {
    const f = await this.ws.next((x) => isAnswer(x) && x.ref === undefined, { from: this.cursor });
    this.cursor = this.ws.frames.indexOf(f, this.cursor) + 1;
    assert.ok(this.cursor > 0, what);
    return f;
  }
}

Deno.test(`fuzz: WebSocket frames of every inbound type, mutated (seed ${SEED}, ${WS_RUNS} runs)`, async () => {
  const fx = await setUp("fuzz-ws");
  const peers: Record<Who, Peer> = {
    client: new Peer("client", fx.server.wsUrl(fx.tokens.client)),
    operator: new Peer("operator", fx.server.wsUrl(fx.tokens.operator)),
    admin: new Peer("admin", fx.server.wsUrl(fx.tokens.admin)),
  };
  try {
    for (const p of Object.values(peers)) await p.connect();
    const accepted = await peers.operator.ws.request("accept_chat", { chat_id: fx.fuzzChat });
    assert.equal(accepted.type, "ack", JSON.stringify(accepted));
    await fx.bystander.check("before the WebSocket fuzz");
    let n = 0;
    let tooBig = 0;
    const answers = new Map<string, number>();
    const count = (f: Frame) => {
      const k = f.type === "error" ? `error ${f.payload.code}` : f.type;
      answers.set(k, (answers.get(k) ?? 0) + 1);
    };
    await fc.assert(
      fc.asyncProperty(frameArb(fx.ids), async (c) => {
        const peer = peers[c.who];
        const at = ++n;
        const text = dec.decode(enc.encode(c.text(at, fx.tokens))); // as it goes on the wire
        const what = `run ${at}, ${c.who}, ${c.describe}: ${text.slice(0, 200)}`;
        const from = peer.ws.frames.length;
        if (enc.encode(text).length > MAX_FRAME_BYTES) {
          // Over MAX_FRAME_BYTES: closed with 1009, and the peer comes back.
          tooBig++;
          peer.ws.ws.send(text);
          assert.equal((await peer.ws.closed()).code, 1009, what);
          await peer.ws.close();
          await peer.connect();
          return;
        }
        const exp = expectation(text);
        peer.ws.ws.send(text);
        if (exp.reply && exp.ref !== null) {
          const r = await peer.ws.next((f) => f.ref === exp.ref, { from });
          checkAnswer(r, what, exp.type);
          count(r);
        } else if (exp.reply) {
          const r = await peer.nextRefless(what);
          checkAnswer(r, what, exp.type);
          count(r);
        }
        // Nothing else carries a ref of ours but an answer; the socket is still open.
        for (const f of peer.ws.frames.slice(from)) {
          if (f.ref !== undefined) assert.ok(isAnswer(f), `${what}: ${JSON.stringify(f)}`);
        }
        assert.equal(peer.ws.closeEvent, null, `${what}: closed (${peer.ws.closeEvent?.code})`);
        assert.equal(peer.ws.schemaErrors.length, 0, `${what}: ${peer.ws.schemaErrors[0]}`);
        if (at % 1000 === 0) await fx.bystander.check(`after ${at} fuzzed frames`);
      }),
      { seed: SEED, numRuns: WS_RUNS, endOnFailure: true },
    );
    // Every frame got exactly one answer: a last ping finds no ref-less answer left over.
    for (const p of Object.values(peers)) {
      assert.equal((await p.ws.request("ping")).type, "pong");
      const extra = p.ws.frames.slice(p.cursor).filter((f) => isAnswer(f) && f.ref === undefined);
      assert.deepEqual(extra, [], `${p.who}: answers nobody asked for`);
    }
    const sorted = [...answers].sort((a, b) => b[1] - a[1]);
    console.log(`${n} frames fuzzed (${tooBig} over MAX_FRAME_BYTES): ${JSON.stringify(sorted)}`);
    await fx.bystander.check("after the WebSocket fuzz");
  } finally {
    for (const p of Object.values(peers)) await p.ws?.close();
    await tearDown(fx);
  }
});

// ---- REST -----------------------------------------------------------------------------------------

interface Route {
  method: string;
  path: string;
  /** Top-level property names of its JSON body, when it has one. */
  props: string[];
  contentTypes: string[];
}

/** Every POST/PUT/PATCH route of the served OpenAPI document. */
async function routesOf(fx: Fixture): Promise<Route[]> {
  const doc = await (await fx.http.fetch(`${fx.server.url}/api/v1/chat/openapi.json`)).json();
  const schemas = doc.components?.schemas ?? {};
  const resolve = (s: { $ref?: string } | undefined) =>
    s?.$ref ? schemas[s.$ref.split("/").pop()!] : s;
  const out: Route[] = [];
  for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, unknown>>)) {
    for (const [method, op] of Object.entries(ops)) {
      if (!["post", "put", "patch"].includes(method)) continue;
      const content = (op as { requestBody?: { content?: Record<string, { schema?: unknown }> } })
        .requestBody?.content ?? {};
      const schema = resolve(content["application/json"]?.schema as { $ref?: string });
      out.push({
        method: method.toUpperCase(),
        path,
        props: Object.keys(schema?.properties ?? {}),
        contentTypes: Object.keys(content),
      });
    }
  }
  return out;
}

type Body = { describe: string; body: BodyInit | null; contentType?: string };

function bodyArb(route: Route, pool: string[]): fc.Arbitrary<Body> {
  const evil = evilArb([...pool, "http://127.0.0.1:9/hook", "https://127.0.0.1:9/x"]);
  const known = route.props.length > 0
    ? fc.constantFrom(...route.props)
    : fc.string({ maxLength: 8 });
  const ct = fc.constantFrom(
    "application/json",
    "text/plain",
    undefined,
    "application/octet-stream",
    "multipart/form-data; boundary=fuzz",
    ...route.contentTypes,
  );
  return fc.oneof(
    {
      weight: 6,
      arbitrary: fc.record({
        fields: fc.dictionary(known, evil, { maxKeys: 6 }),
        extra: fc.dictionary(fc.string({ maxLength: 8 }), evil, { maxKeys: 2 }),
        ct,
      }).map((r) => ({
        describe: "schema-shaped object",
        body: JSON.stringify({ ...r.extra, ...r.fields }),
        contentType: r.ct,
      })),
    },
    {
      weight: 2,
      arbitrary: fc.tuple(fc.jsonValue({ maxDepth: 4 }), ct).map(([v, c]) => ({
        describe: "random JSON",
        body: JSON.stringify(v),
        contentType: c,
      })),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(fc.uint8Array({ maxLength: 400 }), ct).map(([b, c]) => ({
        describe: "random bytes",
        body: b,
        contentType: c,
      })),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(fc.constantFrom(31, 32, 33, 1_000, 30_000), fc.boolean()).map((
        [n, arrays],
      ) => ({
        describe: `${n} levels`,
        body: arrays ? "[".repeat(n) + "]".repeat(n) : '{"a":'.repeat(n) + "1" + "}".repeat(n),
        contentType: "application/json",
      })),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        { describe: "empty", body: null },
        { describe: "empty string", body: "" },
        { describe: "over the body limit", body: `{"name":"${"n".repeat(70_000)}"}` },
        {
          describe: "multipart without its end",
          body: '--fuzz\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nhi',
          contentType: "multipart/form-data; boundary=fuzz",
        },
      ),
    },
  );
}

Deno.test(`fuzz: REST bodies for every POST/PUT/PATCH route (seed ${SEED}, ${REST_RUNS} runs)`, async () => {
  const fx = await setUp("fuzz-rest");
  try {
    const routes = await routesOf(fx);
    assert.ok(routes.length >= 10, `routes: ${routes.map((r) => r.path)}`);
    const pool = fx.ids;
    const pathId = fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom(...pool) },
      fc.string({ minLength: 1, maxLength: 20 }),
      fc.constantFrom("x".repeat(129), "c".repeat(3000), "..", "%00", "123", "é"),
    );
    const request = fc.integer({ min: 0, max: routes.length - 1 }).chain((i) =>
      fc.record({
        route: fc.constant(routes[i]),
        who: fc.oneof(
          fc.constantFrom<"anonymous" | Who>("anonymous", "client", "operator"),
          fc.constant<"admin">("admin"),
        ),
        inQuery: fc.boolean(),
        ids: fc.array(pathId, { minLength: 2, maxLength: 2 }),
        body: bodyArb(routes[i], pool),
      })
    );
    await fx.bystander.check("before the REST fuzz");
    let n = 0;
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const at = ++n;
        let k = 0;
        const path = r.route.path.replace(
          /\{[^}]+\}/g,
          () => encodeURIComponent(String(r.ids[k++])),
        );
        const u = new URL(path, fx.server.url);
        const headers: Record<string, string> = {};
        if (r.body.contentType) headers["content-type"] = r.body.contentType;
        if (r.who !== "anonymous") {
          const token = fx.tokens[r.who];
          if (r.inQuery) u.searchParams.set("token", token);
          else headers.authorization = `Bearer ${token}`;
        }
        const res = await fx.http.fetch(u, { method: r.route.method, headers, body: r.body.body });
        const text = await res.text();
        const what = `run ${at}: ${r.route.method} ${path} as ${r.who}, ${r.body.describe} → ` +
          `${res.status} ${text.slice(0, 300)}`;
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        assert.ok(res.status < 500 || res.status in ALLOWED_5XX, what);
        if (res.status >= 400) {
          const code = codeOf(text);
          assert.ok(Object.hasOwn(ERROR_CODES, code) && code !== "internal", what);
          if (res.status >= 500) assert.ok(ALLOWED_5XX[res.status].includes(code), what);
          assert.equal(ERROR_CODES[code as keyof typeof ERROR_CODES].status, res.status, what);
        }
        if (at % 1000 === 0) await fx.bystander.check(`after ${at} fuzzed requests`);
      }),
      { seed: SEED, numRuns: REST_RUNS, endOnFailure: true },
    );
    console.log(
      `${n} requests over ${routes.length} routes; statuses ${
        JSON.stringify([...statuses].sort())
      }`,
    );
    await fx.bystander.check("after the REST fuzz");
  } finally {
    await tearDown(fx);
  }
});

Deno.test("a frame nested deeper than 32 levels still gets its valid ref echoed (PROTOCOL.md, ref echo)", async () => {
  const fx = await setUp("fuzz-deep-ref");
  const ws = await WsClient.connect(fx.server.wsUrl(fx.tokens.client));
  try {
    // PROTOCOL.md: "If the inbound frame had a valid ref, the reply carries the same ref. This
    // holds for frames that fail to parse too … Text that is not JSON has no readable ref".
    // This frame is JSON with a valid ref at its top level.
    const from = ws.frames.length;
    ws.ws.send(`{"type":"ping","ref":"deep-1","payload":{"x":${nestText(40)}}}`);
    const answer = await ws.next((f) => isAnswer(f), { from });
    assert.equal(answer.payload.code, "invalid_payload");
    assert.equal(answer.ref, "deep-1", `no ref echoed: ${JSON.stringify(answer)}`);
  } finally {
    await ws.close();
    await tearDown(fx);
  }
});

function nestText(n: number): string {
  return "[".repeat(n) + "]".repeat(n);
}
