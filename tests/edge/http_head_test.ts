/** The edge's strict request-head parser and its request/response boundary trackers. */
import assert from "node:assert/strict";
import fc from "fast-check";
import { latin1Bytes, parseRequestHead } from "../../src/server/edge/_http_head.ts";
import {
  type RequestEvent,
  RequestTracker,
  ResponseTracker,
} from "../../src/server/edge/_http_framing.ts";

const bytes = (s: string) => latin1Bytes(s);
const parse = (s: string) => parseRequestHead(bytes(s));

function ok(s: string) {
  const r = parse(s);
  if (!r.ok) assert.fail(`refused (${r.status} ${r.message}): ${JSON.stringify(s)}`);
  return r.head;
}

function refused(s: string, status = 400): string {
  const r = parse(s);
  assert.equal(r.ok, false, `accepted: ${JSON.stringify(s)}`);
  if (r.ok) throw new Error("unreachable");
  assert.equal(r.status, status, `${r.message}: ${JSON.stringify(s)}`);
  return r.message;
}

Deno.test("parser: accepts well-formed heads", () => {
  const h = ok("GET /a?b=c HTTP/1.1\r\nHost: example.com:8080\r\nX-A:  v  \r\n\r\n");
  assert.equal(h.method, "GET");
  assert.equal(h.target, "/a?b=c");
  assert.equal(h.version, "HTTP/1.1");
  assert.deepEqual(h.lines, ["Host: example.com:8080", "X-A:  v  "]);
  assert.equal(h.headers.get("x-a"), "v");
  assert.deepEqual(h.body, { kind: "none" });
  assert.equal(h.upgrade, false);
  // HTTP/1.0 needs no Host; empty lines before the request line are ignored.
  assert.equal(ok("\r\n\r\nGET / HTTP/1.0\r\n\r\n").version, "HTTP/1.0");
  assert.equal(ok("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n").target, "*");
  assert.equal(ok("GET http://a.b/c HTTP/1.1\r\nHost: a.b\r\n\r\n").target, "http://a.b/c");
  const post = ok("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n");
  assert.deepEqual(post.body, { kind: "length", length: 5 });
  assert.deepEqual(ok("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n").body, {
    kind: "length",
    length: 5,
  });
  assert.deepEqual(ok("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n").body, {
    kind: "none",
  });
  assert.deepEqual(ok("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n").body, {
    kind: "chunked",
  });
  // obs-text (bytes 0x80-0xff) in a value is allowed; HTAB inside a value too.
  assert.equal(
    ok("GET / HTTP/1.1\r\nHost: a\r\nX-B: caf\xe9\tx\r\n\r\n").headers.get("x-b"),
    "caf\xe9\tx",
  );
  const ws = ok(
    "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n\r\n",
  );
  assert.equal(ws.upgrade, true);
  assert.equal(ws.websocket, true);
  const h2c = ok("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\n\r\n");
  assert.equal(h2c.upgrade, true);
  assert.equal(h2c.websocket, false);
});

Deno.test("parser: refuses malformed and ambiguous heads", () => {
  const H = "Host: a\r\n";
  // Request smuggling shapes.
  refused(`POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n`);
  refused(`POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n`);
  refused(`POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 6\r\n\r\n`);
  refused(`POST / HTTP/1.1\r\n${H}Content-Length: 5, 6\r\n\r\n`);
  refused(`POST / HTTP/1.1\r\n${H}Content-Length: +5\r\n\r\n`);
  refused(`POST / HTTP/1.1\r\n${H}Content-Length: 0x5\r\n\r\n`);
  refused(`POST / HTTP/1.1\r\n${H}Content-Length: \r\n\r\n`);
  refused(`POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\n`);
  refused(`POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n`);
  refused(`POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, gzip\r\n\r\n`);
  refused(
    `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n`,
  );
  refused(`POST / HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n`);
  refused("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n");
  // Line structure.
  refused(`GET / HTTP/1.1\r\n${H}X-A: b\r\n c\r\n\r\n`); // obs-fold
  refused(`GET / HTTP/1.1\r\n${H}X-A: b\r\n\tc\r\n\r\n`);
  refused(`GET / HTTP/1.1\r\n${H}X-A: b\nX-C: d\r\n\r\n`); // bare LF
  refused(`GET / HTTP/1.1\n${H}\r\n`);
  refused(`GET / HTTP/1.1\r\n${H}X-A: b\rc\r\n\r\n`); // bare CR in a value
  refused(`GET / HTTP/1.1\r\n${H}X-A: b\0\r\n\r\n`);
  refused(`GET / HTTP/1.1\r\n${H}X-A : b\r\n\r\n`); // space before the colon
  refused(`GET / HTTP/1.1\r\n${H}X-A\t: b\r\n\r\n`);
  refused(`GET / HTTP/1.1\r\n${H}X(A): b\r\n\r\n`); // not a token
  refused(`GET / HTTP/1.1\r\n${H}: b\r\n\r\n`);
  refused(`GET / HTTP/1.1\r\n${H}no colon\r\n\r\n`);
  // Request line and target.
  refused(`GET  / HTTP/1.1\r\n${H}\r\n`);
  refused(`GET / HTTP/1.1 \r\n${H}\r\n`);
  refused(`GET /a b HTTP/1.1\r\n${H}\r\n`);
  refused(`G(T / HTTP/1.1\r\n${H}\r\n`);
  refused(`GET / http/1.1\r\n${H}\r\n`);
  refused(`GET / HTTP/2.0\r\n${H}\r\n`, 505);
  refused(`GET a/b HTTP/1.1\r\n${H}\r\n`);
  refused(`GET /a#b HTTP/1.1\r\n${H}\r\n`);
  refused(`GET /caf\xe9 HTTP/1.1\r\n${H}\r\n`);
  refused(`GET /\x7f HTTP/1.1\r\n${H}\r\n`);
  refused(`GET * HTTP/1.1\r\n${H}\r\n`);
  refused(`GET ftp://a/b HTTP/1.1\r\n${H}\r\n`);
  refused(`CONNECT a:443 HTTP/1.1\r\n${H}\r\n`, 405);
  // Host.
  refused("GET / HTTP/1.1\r\n\r\n");
  refused(`GET / HTTP/1.1\r\n${H}${H}\r\n`);
  refused("GET / HTTP/1.1\r\nHost: a b\r\n\r\n");
  // Upgrade with a body; too many fields.
  refused(`GET / HTTP/1.1\r\n${H}Upgrade: websocket\r\nContent-Length: 3\r\n\r\n`);
  refused(`GET / HTTP/1.1\r\n${H}${"X-A: b\r\n".repeat(100)}\r\n`, 431);
});

/** Feeds `stream` in the given pieces; returns the events, body bytes joined per request. */
function track(pieces: Uint8Array[], maxHeaderBytes = 16384) {
  const t = new RequestTracker(maxHeaderBytes);
  const out: string[] = [];
  let body = "";
  for (const piece of pieces) {
    t.push(piece);
    for (let ev: RequestEvent | null; (ev = t.next()) !== null;) {
      if (ev.kind === "body") body += String.fromCharCode(...ev.bytes);
      else {
        if (ev.kind === "end") out.push(`body:${body}`), body = "";
        out.push(
          ev.kind === "head"
            ? `head:${ev.head.method} ${ev.head.target}`
            : ev.kind === "error"
            ? `error:${ev.status}`
            : ev.kind,
        );
      }
    }
  }
  return { events: out, tracker: t };
}

const whole = (s: string) => [bytes(s)];
const byteByByte = (s: string) => [...bytes(s)].map((b) => new Uint8Array([b]));

const CHUNKED = "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" +
  "5;name=value;flag\r\nhello\r\n" + 'A ; x="q"\r\n0123456789\r\n' +
  "0\r\nX-Trailer: 1\r\nY: 2\r\n\r\n";
const CHUNKED_BODY = CHUNKED.slice(CHUNKED.indexOf("\r\n\r\n") + 4);
const PIPELINE = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n" +
  "POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc" + CHUNKED +
  "\r\nGET /4 HTTP/1.1\r\nHost: a\r\n\r\n";
const PIPELINE_EVENTS = [
  "head:GET /1",
  "body:",
  "end",
  "head:POST /2",
  "body:abc",
  "end",
  "head:POST /c",
  `body:${CHUNKED_BODY}`,
  "end",
  "head:GET /4",
  "body:",
  "end",
];

Deno.test("tracker: Content-Length, chunked with extensions and trailers, pipelined", () => {
  const { events, tracker } = track(whole(PIPELINE));
  assert.deepEqual(events, PIPELINE_EVENTS);
  assert.equal(tracker.phase, "idle");
  assert.deepEqual(track(whole(CHUNKED)).events, ["head:POST /c", `body:${CHUNKED_BODY}`, "end"]);
});

Deno.test("tracker: byte-by-byte delivery finds the same boundaries, phase by phase", () => {
  assert.deepEqual(track(byteByByte(PIPELINE)).events, PIPELINE_EVENTS);
  const t = new RequestTracker(16384);
  const phases: string[] = [];
  for (const b of byteByByte("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi")) {
    t.push(b);
    while (t.next() !== null);
    if (phases.at(-1) !== t.phase) phases.push(t.phase);
  }
  assert.deepEqual(phases, ["head", "body", "idle"]);
});

Deno.test("tracker: any split of a pipelined stream gives the same events (seeded)", () => {
  const all = bytes(PIPELINE);
  fc.assert(
    fc.property(fc.uniqueArray(fc.integer({ min: 1, max: all.length - 1 })), (cuts) => {
      const at = [0, ...cuts.sort((a, b) => a - b), all.length];
      const pieces = at.slice(1).map((end, i) => all.slice(at[i], end));
      assert.deepEqual(track(pieces).events, PIPELINE_EVENTS);
    }),
    { seed: 6455, numRuns: 300 },
  );
});

Deno.test("tracker: refuses broken framing and oversized heads", () => {
  const post = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (
    const body of ["5\r\nhelloX", "zz\r\n", "5\n", "\r\n", "5\r\nhello\r\n0\r\n\r\r", "1;\0\r\n"]
  ) {
    assert.deepEqual(track(whole(post + body)).events.slice(-1), ["error:400"], body);
  }
  assert.deepEqual(track(whole(post + "12345678901234\r\n")).events.slice(-1), ["error:400"]);
  // A bare LF fails as soon as it arrives, before the head is complete.
  assert.deepEqual(track(whole("GET / HTTP/1.1\nHost")).events, ["error:400"]);
  // A head larger than the limit: 431 as soon as the limit is passed.
  const big = `GET / HTTP/1.1\r\nHost: a\r\nX: ${"a".repeat(200)}`;
  assert.deepEqual(track(whole(big), 100).events, ["error:431"]);
  assert.deepEqual(track(byteByByte(big), 100).events, ["error:431"]);
  // Exactly at the limit is fine.
  const exact = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  assert.deepEqual(track(whole(exact), exact.length).events, ["head:GET /", "body:", "end"]);
  // A smuggling shape from the parser.
  const both =
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
  assert.deepEqual(track(whole(both)).events, ["error:400"]);
});

Deno.test("tracker: an upgrade request waits for the server's answer", () => {
  const up = "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
  const next = "GET /n HTTP/1.1\r\nHost: a\r\n\r\n";
  // Refused upgrade: HTTP goes on.
  const t = new RequestTracker(16384);
  t.push(bytes(up + next));
  assert.equal(t.next()?.kind, "head");
  assert.equal(t.next()?.kind, "end");
  assert.equal(t.phase, "upgrade");
  assert.equal(t.next(), null);
  t.resume(false);
  const head = t.next();
  assert.equal(head?.kind === "head" && head.head.target, "/n");
  // Switched protocols: the rest is raw.
  const u = new RequestTracker(16384);
  u.push(bytes(up + "\x81\x80abcd"));
  assert.equal(u.next()?.kind, "head");
  assert.equal(u.next()?.kind, "end");
  u.resume(true);
  const raw = u.next();
  assert.equal(raw?.kind === "raw" && String.fromCharCode(...raw.bytes), "\x81\x80abcd");
  // The edge serves the first request itself: the rest is handed over.
  const w = new RequestTracker(16384);
  w.push(bytes(up + "\x81\x80"));
  assert.equal(w.next()?.kind, "head");
  assert.deepEqual([...w.takeRest()], [0x81, 0x80]);
  assert.equal(w.next(), null);
});

Deno.test("response tracker: knows when every forwarded request is answered", () => {
  const decisions: boolean[] = [];
  const r = new ResponseTracker((up) => decisions.push(up));
  assert.equal(r.busy, false);
  r.request("GET", false);
  r.request("HEAD", false);
  r.request("POST", false);
  r.request("GET", false);
  assert.equal(r.busy, true);
  const feed = (s: string) => r.feed(bytes(s));
  feed("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhel");
  assert.equal(r.busy, true);
  feed("lo");
  feed("HTTP/1.1 200 OK\r\ncontent-length: 99\r\n\r\n"); // HEAD: no body
  feed("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n");
  feed("3\r\nabc\r\n0\r\n\r\n");
  assert.equal(r.busy, true);
  for (const b of bytes("HTTP/1.1 204 No Content\r\n\r\n")) r.feed(new Uint8Array([b]));
  assert.equal(r.busy, false);
  // Upgrades: a refusal, then a 101 after which nothing is followed.
  r.request("GET", true);
  feed("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n");
  r.request("GET", true);
  feed("HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n\x81\x00");
  assert.deepEqual(decisions, [false, true]);
  assert.equal(r.busy, true);
  // A body that ends with the connection keeps it busy for good.
  const c = new ResponseTracker(() => {});
  c.request("GET", false);
  c.feed(bytes("HTTP/1.1 200 OK\r\n\r\nsome bytes"));
  assert.equal(c.busy, true);
});
