/**
 * The server as an attacker probes it: every test runs a REAL child process (src/main.ts, with
 * its last-resort handler), throws malformed upgrades, lying and endless bodies, huge and broken
 * WebSocket frames, floods, connection bursts, slow and unfinished requests, oversized ids and
 * made-up chats at it, and proves after every group that
 *
 * - the process is still up and answers, and `chat_unhandled_errors_total` is 0 (nothing went
 *   unhandled: no rejection reached the last resort, let alone crashed the node),
 * - a well-behaved chat alongside still talks, and every message it got acked is stored exactly
 *   once (history seqs 1..n, no gap, no repeat),
 * - no answer was a 5xx, and every refusal is coded.
 *
 * Raw TCP (tests/security/_raw.ts) where fetch or WebSocket cannot say the attack.
 */
import assert from "node:assert/strict";
import { signJwt } from "../../src/auth/jwt.ts";
import { TEST_SECRET, WsClient, wsUrl } from "../integration/_harness.ts";
import { SseClient } from "../integration/_sse_client.ts";
import { auth, codeOf, history, Hostile, metric, newChat, staffToken } from "./_hostile.ts";
import { concat, enc, OP, RawConn, requestHead, wsFrame } from "./_raw.ts";

const WS = "/api/v1/chat/ws/chat";
const CHATS = "/api/v1/chat/chats";
const MiB = 1024 * 1024;
/** Codes a refusal may carry; `internal` is never one of them. */
const REFUSALS = new Set([
  "bad_json",
  "unknown_type",
  "invalid_payload",
  "text_too_long",
  "body_too_large",
  "too_many_connections",
  "rate_limited",
  "unauthorized",
  "forbidden",
  "not_found",
  "already_assigned",
  "at_capacity",
  "operator_unavailable",
  "not_in_queue",
  "chat_closed",
  "not_closed",
  "already_rated",
  "invalid_state",
  "not_supported",
]);

type Json = { type: string; payload: Record<string, unknown>; ref?: string };

/** Opens a WebSocket over raw TCP with `token` and reads the server's `connected` frame. */
async function rawWs(baseUrl: string, token: string): Promise<RawConn> {
  const c = await RawConn.open(baseUrl);
  const res = await c.upgrade(`${WS}?token=${encodeURIComponent(token)}`);
  assert.equal(res.status, 101, res.text);
  const first = await c.json();
  assert.equal(first.type, "connected", JSON.stringify(first));
  return c;
}

/** Reads text frames until the reply that echoes `ref` (other frames are skipped). */
async function replyTo(c: RawConn, ref: string): Promise<Json> {
  for (;;) {
    const f = await c.json();
    if (f.ref === ref) return f;
  }
}

const send = (c: RawConn, type: string, payload: unknown, ref?: string) =>
  c.write(
    wsFrame(
      OP.TEXT,
      JSON.stringify(ref === undefined ? { type, payload } : { type, payload, ref }),
    ),
  );

/** A 4xx JSON refusal with the coded body; returns its code. */
function refused(r: { status: number; text: string }, status: number, what: string): string {
  assert.ok(r.status < 500, `${what}: answered ${r.status} ${r.text}`);
  assert.equal(r.status, status, `${what}: ${r.text}`);
  return codeOf(r.text);
}

// -------------------------------------------------------------------------------------------------

Deno.test("hostile: malformed upgrades, bodies, frames, connection bursts, ids, made-up chats", async (t) => {
  const h = await Hostile.start("main", { MAX_BODY_BYTES: String(256 * 1024) });
  try {
    const url = h.url;
    const http = h.http;

    await h.group(t, "malformed WebSocket upgrades", async () => {
      const chat = await newChat(http, url);
      const tok = encodeURIComponent(chat.client_token);
      const cases: Array<{
        name: string;
        target: string;
        headers: Record<string, string>;
        method?: string;
        status: number;
        code: string;
      }> = [
        {
          // The request that stopped the server: curl -H 'Upgrade: websocket' -H 'Connection: Upgrade'
          name: "no token, no key, no version (the original crash)",
          target: WS,
          headers: { "Sec-WebSocket-Version": "", "Sec-WebSocket-Key": "" },
          status: 400,
          code: "invalid_payload",
        },
        {
          name: "no token, no key",
          target: WS,
          headers: { "Sec-WebSocket-Key": "" },
          status: 400,
          code: "invalid_payload",
        },
        {
          name: "a valid token, no Sec-WebSocket-Key",
          target: `${WS}?token=${tok}`,
          headers: { "Sec-WebSocket-Key": "" },
          status: 400,
          code: "invalid_payload",
        },
        {
          name: "a key that is not base64 of 16 bytes",
          target: `${WS}?token=${tok}`,
          headers: { "Sec-WebSocket-Key": "not a key!" },
          status: 400,
          code: "invalid_payload",
        },
        {
          name: "Connection: close",
          target: `${WS}?token=${tok}`,
          headers: { Connection: "close" },
          status: 400,
          code: "invalid_payload",
        },
        {
          name: "Sec-WebSocket-Version: 8",
          target: `${WS}?token=${tok}`,
          headers: { "Sec-WebSocket-Version": "8" },
          status: 400,
          code: "invalid_payload",
        },
        {
          name: "Upgrade: h2c",
          target: `${WS}?token=${tok}`,
          headers: { Upgrade: "h2c" },
          status: 400,
          code: "invalid_payload",
        },
        {
          name: "POST with upgrade headers",
          target: `${WS}?token=${tok}`,
          headers: {},
          method: "POST",
          status: 404,
          code: "not_found",
        },
        {
          name: "a chat_id of 3,000 characters in the URL",
          target: `${WS}?token=${tok}&chat_id=${"c".repeat(3000)}`,
          headers: {},
          status: 400,
          code: "invalid_payload",
        },
        {
          name: "last_seq that is no number",
          target: `${WS}?token=${tok}&last_seq=1e999`,
          headers: {},
          status: 400,
          code: "invalid_payload",
        },
      ];
      for (const k of cases) {
        // As the first request of a connection (the edge's own upgrade path) …
        const first = await RawConn.open(url);
        try {
          const r = await first.upgrade(k.target, k.headers, k.method);
          assert.equal(refused(r, k.status, k.name), k.code, k.name);
        } finally {
          first.close();
        }
        // … and after a normal request on a keep-alive connection (Deno.serve's upgrade path).
        const reused = await RawConn.open(url);
        try {
          await reused.write(requestHead("GET", "/healthz", reused.host));
          assert.equal((await reused.response()).status, 200);
          const r = await reused.upgrade(k.target, k.headers, k.method);
          // Deno's own upgrade (on a reused connection) is checked as strictly as ours.
          assert.equal(refused(r, k.status, `${k.name} (reused)`), k.code, `${k.name} (reused)`);
        } finally {
          reused.close();
        }
      }

      // A body on an upgrade request is refused by the edge (plain text, it never reaches the app).
      const withBody = await RawConn.open(url);
      try {
        await withBody.write(
          `GET ${WS}?token=${tok} HTTP/1.1\r\nHost: ${withBody.host}\r\nUpgrade: websocket\r\n` +
            `Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n` +
            `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nContent-Length: 2\r\n\r\n{}`,
        );
        const r = await withBody.response();
        assert.equal(r.status, 400, r.text);
      } finally {
        withBody.close();
      }

      // socket.io's WebSocket transport without a key (or version): engine.io's coded 400.
      const noKeys: Record<string, string>[] = [
        { "Sec-WebSocket-Key": "" },
        { "Sec-WebSocket-Version": "", "Sec-WebSocket-Key": "" },
      ];
      for (const headers of noKeys) {
        const c = await RawConn.open(url);
        try {
          const r = await c.upgrade(`/socket.io/?EIO=4&transport=websocket&token=${tok}`, headers);
          assert.equal(r.status, 400, r.text);
          const body = JSON.parse(r.text);
          assert.equal(typeof body.code, "number", `engine.io error code: ${r.text}`);
          assert.equal(typeof body.message, "string");
        } finally {
          c.close();
        }
      }

      // A bad token on a valid upgrade: 101, then an `error` frame and close 1008, on both paths.
      for (const reuse of [false, true]) {
        const c = await RawConn.open(url);
        try {
          if (reuse) {
            await c.write(requestHead("GET", "/healthz", c.host));
            assert.equal((await c.response()).status, 200);
          }
          const r = await c.upgrade(`${WS}?token=forged.token.here`);
          assert.equal(r.status, 101, r.text);
          const { texts, code, reason } = await c.untilClose();
          assert.deepEqual(texts.map((f) => [f.type, f.payload.code]), [["error", "unauthorized"]]);
          assert.equal(code, 1008);
          assert.equal(reason, "unauthorized");
          await c.answerClose();
        } finally {
          c.close();
        }
      }

      // A valid upgrade on a reused keep-alive connection still works (Deno's socket behind us).
      const ok = await RawConn.open(url);
      try {
        await ok.write(requestHead("GET", "/healthz", ok.host));
        assert.equal((await ok.response()).status, 200);
        const r = await ok.upgrade(`${WS}?token=${tok}`);
        assert.equal(r.status, 101, r.text);
        assert.equal((await ok.json()).type, "connected");
        await send(ok, "ping", {}, "p1");
        assert.equal((await replyTo(ok, "p1")).type, "pong");
        await ok.closeWs();
      } finally {
        ok.close();
      }
    });

    await h.group(t, "request bodies: declared, endless and deeply nested", async () => {
      // 64 MiB announced, not one byte of it sent: 413 at once.
      const big = await RawConn.open(url);
      try {
        await big.write(requestHead("POST", CHATS, big.host, {
          "Content-Type": "application/json",
          "Content-Length": String(64 * MiB),
        }));
        const r = await big.response();
        assert.equal(refused(r, 413, "64 MiB Content-Length"), "body_too_large");
      } finally {
        big.close();
      }

      // A chunked body that never ends: 413 once it passes the limit, long before we stop.
      const endless = await RawConn.open(url);
      let sent = 0;
      try {
        await endless.write(requestHead("POST", CHATS, endless.host, {
          "Content-Type": "application/json",
          "Transfer-Encoding": "chunked",
        }));
        const chunk = enc.encode(`2000\r\n${"a".repeat(0x2000)}\r\n`);
        await endless.write(`9\r\n{"name":"\r\n`);
        const answer = endless.response(30_000);
        const answered = answer.then(() => "answered", () => "answered");
        const CAP = 64 * MiB;
        while (sent < CAP) {
          const w = endless.write(chunk);
          const first = await Promise.race([w.then((ok) => (ok ? "wrote" : "closed")), answered]);
          if (first === "answered") {
            // The server stopped reading (a write may be stuck on full socket buffers); it keeps
            // the connection until BODY_TIMEOUT_S, so we leave.
            endless.close();
            await w;
          }
          if (first !== "wrote") break;
          sent += 0x2000;
        }
        const r = await answer;
        console.log(`endless chunked body: ${r.status} after ${sent} body bytes were written`);
        assert.ok(sent < CAP, "the server never answered the endless body");
        assert.equal(refused(r, 413, "endless chunked body"), "body_too_large");
      } finally {
        endless.close();
      }

      // 100,000 levels of `[` (within the size limit) and 33 levels: refused before parsing.
      const deep = "[".repeat(100_000) + "]".repeat(100_000);
      const nested = (n: number) => '{"x":'.repeat(n - 1) + "{}" + "}".repeat(n - 1);
      for (const [name, body] of [["100k levels", deep], ["33 levels", nested(33)]]) {
        const r = await http.text(`${url}${CHATS}`, { method: "POST", body });
        assert.equal(refused(r, 400, name), "invalid_payload", name);
        assert.match(JSON.parse(r.text).error.message, /deeper than 32/, name);
      }
      // 32 levels are fine (the unknown field is ignored).
      const ok = await http.text(`${url}${CHATS}`, { method: "POST", body: nested(32) });
      assert.equal(ok.status, 201, ok.text);
    });

    await h.group(t, "a JSON body with invalid UTF-8", async () => {
      const body = concat(
        enc.encode('{"name":"'),
        new Uint8Array([0xff, 0xfe, 0xc0, 0xaf]),
        enc.encode('"}'),
      );
      const r = await http.text(`${url}${CHATS}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      });
      const code = refused(r, 400, "invalid UTF-8 body");
      assert.ok(["bad_json", "invalid_payload"].includes(code), code);
    });

    await h.group(t, "WebSocket frames: huge headers, invalid UTF-8, deep JSON", async () => {
      // Frame headers that announce more than MAX_FRAME_BYTES, their payload never sent: the
      // close comes from the header alone, and as the payload never comes the server drops the
      // connection itself once its close handshake times out (the three run side by side).
      const announced: Array<[string, Uint8Array[], number]> = [
        [
          "a binary frame announcing 48 MiB",
          [wsFrame(OP.BINARY, "", { announce: 48 * MiB })],
          1003,
        ],
        ["a text frame announcing 48 MiB", [wsFrame(OP.TEXT, "", { announce: 48 * MiB })], 1009],
        [
          "fragments that together pass 64 KiB",
          [
            wsFrame(OP.TEXT, "x".repeat(40_000), { fin: false }),
            wsFrame(OP.CONT, "", { announce: 40_000 }),
          ],
          1009,
        ],
      ];
      await Promise.all(announced.map(async ([name, frames, expected]) => {
        const c = await rawWs(url, (await newChat(http, url)).client_token);
        try {
          for (const f of frames) await c.write(f);
          const { code } = await c.untilClose();
          assert.equal(code, expected, name);
          assert.ok((await c.waitEnd(10_000)) !== null, name);
        } finally {
          c.close();
        }
      }));

      // Invalid UTF-8 in a text frame: a close frame with 1007.
      const utf = await rawWs(url, (await newChat(http, url)).client_token);
      try {
        await utf.write(wsFrame(OP.TEXT, new Uint8Array([0x7b, 0xff, 0xfe, 0xc0, 0xaf, 0x7d])));
        const { code, reason } = await utf.untilClose();
        assert.equal(code, 1007);
        assert.equal(reason, "invalid_utf8");
        await utf.answerClose();
      } finally {
        utf.close();
      }

      // JSON nested 100 and 100,000 levels deep: a coded error, and the socket goes on.
      const deep = await rawWs(url, (await newChat(http, url)).client_token);
      try {
        for (const n of [100, 20_000]) {
          const nested = `${"[".repeat(n)}${"]".repeat(n)}`;
          await deep.write(wsFrame(OP.TEXT, `{"type":"ping","ref":"d","payload":${nested}}`));
          let e = await deep.json();
          while (e.type !== "error") e = await deep.json(); // skip queue_position
          assert.equal(e.payload.code, "invalid_payload");
          assert.match(String(e.payload.message), /deeper than 32/);
        }
        await send(deep, "ping", {}, "after");
        assert.equal((await replyTo(deep, "after")).type, "pong");
        await deep.closeWs();
      } finally {
        deep.close();
      }
    });

    await h.group(
      t,
      "30 simultaneous connections with one token; SSE streams count too",
      async () => {
        /** Opens 30 WebSockets at the same moment; returns [connected, refused] sockets. */
        const burst = async (wsUrl: string, into: WsClient[]) => {
          const opened = await Promise.all(Array.from({ length: 30 }, () => WsClient.open(wsUrl)));
          into.push(...opened);
          const firsts = await Promise.all(
            opened.map((s) => s.next((f) => f.type === "connected" || f.type === "error")),
          );
          const refusedOnes = opened.filter((_, i) => firsts[i].type === "error");
          for (const s of refusedOnes) {
            assert.equal(s.ofType("error")[0].payload.code, "too_many_connections");
            assert.equal((await s.closed()).code, 4002);
          }
          return [opened.filter((_, i) => firsts[i].type === "connected"), refusedOnes];
        };
        const sseOf = (token: string) =>
          `${url}/api/v1/chat/sse?token=${encodeURIComponent(token)}`;
        const streams: SseClient[] = [];
        const sockets: WsClient[] = [];
        try {
          // 30 at the same moment with one token: exactly 10 get `connected`, 20 are refused.
          const a = await newChat(http, url);
          const [connected, refusedOnes] = await burst(a.ws_url, sockets);
          assert.equal(connected.length, 10, `connected: ${connected.length}`);
          assert.equal(refusedOnes.length, 20);
          for (const s of connected) assert.equal((await s.request("ping")).type, "pong");
          // An SSE stream of that token is the 11th: a 200 that carries the error and ends.
          const extra = await SseClient.open(sseOf(a.client_token));
          streams.push(extra);
          const err = await extra.next((f) => f.type === "error");
          assert.equal(err.payload.code, "too_many_connections");
          await extra.endedByServer();

          // Streams count against the same limit: 4 SSE streams, then 30 sockets → 6 connect.
          const b = await newChat(http, url);
          for (let i = 0; i < 4; i++) streams.push(await SseClient.connect(sseOf(b.client_token)));
          const [connectedB, refusedB] = await burst(b.ws_url, sockets);
          assert.equal(connectedB.length, 6, `connected: ${connectedB.length}`);
          assert.equal(refusedB.length, 24);
        } finally {
          await Promise.all(sockets.map((s) => s.close()));
          await Promise.all(streams.map((s) => s.close()));
        }
      },
    );

    await h.group(t, "ids of 3,000 characters in paths, frames and JWT subjects", async () => {
      const long = "c".repeat(3000);
      const admin = await staffToken("admin-ids", "admin");
      const bearer = (tok: string) => ({ headers: { authorization: `Bearer ${tok}` } });
      const hist = `${url}${CHATS}/${long}/history`;
      assert.equal(
        refused(await http.text(hist, bearer(admin)), 400, "long id, admin"),
        "invalid_payload",
      );
      const client = h.bystander.chat.client_token;
      const asClient = await http.text(hist, bearer(client));
      assert.ok([400, 403].includes(asClient.status), `long id, client: ${asClient.status}`);
      assert.ok(REFUSALS.has(codeOf(asClient.text)));
      assert.equal(refused(await http.text(hist), 401, "long id, no token"), "unauthorized");
      for (
        const path of [
          `${CHATS}/${long}/client`,
          `${CHATS}/${long}/hints`,
          `${CHATS}/${long}/attachments`,
        ]
      ) {
        const r = await http.text(`${url}${path}`, bearer(admin));
        assert.ok(r.status >= 400 && r.status < 500, `${path}: ${r.status}`);
        assert.ok(REFUSALS.has(codeOf(r.text)), r.text);
      }

      // In frames: invalid_payload with the ref echoed, the socket goes on.
      const staff = await WsClient.connect(wsUrl(url, admin));
      const visitor = await WsClient.connect((await newChat(http, url)).ws_url);
      try {
        for (const ws of [staff, visitor]) {
          for (
            const [type, payload] of [
              ["message", { chat_id: long, text: "hi" }],
              ["typing", { chat_id: long, is_typing: true }],
              ["read", { chat_id: long, seq: 1 }],
              ["resume", { chat_id: long, last_seq: 0 }],
              ["close_chat", { chat_id: long }],
              ["accept_chat", { chat_id: long }],
              ["transfer_chat", { chat_id: long, to_queue: true, reason: "x" }],
              ["assign_lawyer", { chat_id: long, lawyer_id: long }],
              ["message", { chat_id: "c", text: "hi", client_msg_id: long }],
            ] as const
          ) {
            const r = await ws.request(type, payload);
            assert.equal(r.type, "error", `${type}: ${JSON.stringify(r)}`);
            assert.equal(r.payload.code, "invalid_payload", `${type}: ${JSON.stringify(r)}`);
          }
          assert.equal((await ws.request("ping")).type, "pong");
        }
      } finally {
        await staff.close();
        await visitor.close();
      }

      // A staff JWT whose subject is 3,000 characters, correctly signed: 401, never 5xx.
      for (const role of ["operator", "admin"] as const) {
        const jwt = await signJwt(
          { sub: "s".repeat(3000), role, exp: Math.floor(Date.now() / 1000) + 600 },
          TEST_SECRET,
        );
        for (
          const path of [
            `${CHATS}/queue`,
            `${CHATS}/${h.bystander.chat.chat_id}/history`,
            "/api/v1/chat/me",
          ]
        ) {
          assert.equal(
            refused(await http.text(`${url}${path}`, bearer(jwt)), 401, path),
            "unauthorized",
          );
        }
        const sse = await http.text(`${url}/api/v1/chat/sse?token=${jwt}`);
        assert.equal(refused(sse, 401, "sse"), "unauthorized");
        const c = await RawConn.open(url);
        try {
          const r = await c.upgrade(`${WS}?token=${jwt}`);
          assert.equal(r.status, 101, r.text);
          const { texts, code } = await c.untilClose();
          assert.deepEqual(texts.map((f) => f.payload.code), ["unauthorized"]);
          assert.equal(code, 1008);
          await c.answerClose();
        } finally {
          c.close();
        }
      }
    });

    await h.group(t, "500 frames naming made-up chats", async () => {
      const before = await metric(http, url, "chat_actors");
      const op = await WsClient.connect(wsUrl(url, await staffToken("op-made-up")));
      const codes = new Map<string, number>();
      try {
        const kinds: Array<(id: string) => [string, Record<string, unknown>]> = [
          (id) => ["typing", { chat_id: id, is_typing: true }],
          (id) => ["read", { chat_id: id, seq: 3 }],
          (id) => ["close_chat", { chat_id: id, reason: "x" }],
          (id) => ["resume", { chat_id: id, last_seq: 0 }],
          (id) => ["accept_chat", { chat_id: id }],
          (id) => ["transfer_chat", { chat_id: id, to_queue: true, reason: "x" }],
        ];
        const replies = await Promise.all(Array.from({ length: 500 }, (_, i) => {
          const id = i % 2 ? crypto.randomUUID() : `made-up-${i}`;
          const [type, payload] = kinds[i % kinds.length](id);
          return op.request(type, payload);
        }));
        for (const r of replies) {
          assert.equal(r.type, "error", JSON.stringify(r));
          const code = r.payload.code as string;
          assert.ok(REFUSALS.has(code), JSON.stringify(r));
          codes.set(code, (codes.get(code) ?? 0) + 1);
        }
      } finally {
        await op.close();
      }
      const after = await metric(http, url, "chat_actors");
      console.log(
        `made-up chats: codes ${JSON.stringify([...codes])}, actors ${before} → ${after}`,
      );
      assert.ok(after - before < 20, `actors in memory grew from ${before} to ${after}`);
    });
  } finally {
    await h.stop();
  }
});

// -------------------------------------------------------------------------------------------------

Deno.test("hostile: frame budgets are per user, survive a reconnect, and count every frame", async (t) => {
  // RATE_LIMIT_PER_MIN=6: 6 messages (one more every 10 s) and 60 frames (one more a second)
  // per user, so nothing these groups do within a second refills a budget by chance.
  const h = await Hostile.start("budget", { RATE_LIMIT_PER_MIN: "6" }, { perCheck: 1 });
  try {
    const url = h.url;

    await h.group(t, "1,000 frames of garbage JSON in a burst, then a reconnect", async () => {
      const chat = await newChat(h.http, url);
      const c = await rawWs(url, chat.client_token);
      let again: RawConn | null = null;
      try {
        // The user's 6 messages go through: its message budget is spent, 54 frames are left.
        const sent: string[] = [];
        for (let i = 1; i <= 6; i++) {
          await send(c, "message", { text: `hello ${i}` }, `m${i}`);
          assert.equal((await replyTo(c, `m${i}`)).type, "ack");
          sent.push(`hello ${i}`);
        }
        const garbage = Array.from(
          { length: 1000 },
          (_, i) =>
            wsFrame(OP.TEXT, i % 2 ? `{"type": "message", "payload": {${i}` : `not json ${i}`),
        );
        await c.write(concat(...garbage));
        const { texts, code, reason } = await c.untilClose();
        assert.equal(code, 1008);
        assert.equal(reason, "rate_limited");
        const errors = texts.filter((f) => f.type === "error").map((f) => f.payload.code as string);
        const badJson = errors.filter((e) => e === "bad_json").length;
        const limited = errors.filter((e) => e === "rate_limited").length;
        console.log(`garbage burst: ${badJson} bad_json, ${limited} rate_limited, then 1008`);
        // Coded errors only: bad_json while the frame budget lasted, then rate_limited only.
        assert.equal(badJson + limited, errors.length, JSON.stringify(errors));
        assert.ok(badJson >= 50 && badJson <= 60, `bad_json: ${badJson}`);
        assert.deepEqual(errors.slice(0, badJson), Array(badJson).fill("bad_json"));
        // Closed after 200 refusals in a row: replies still queued then are dropped with the
        // socket, so at most 200 arrive.
        assert.ok(limited >= 1 && limited <= 200, `rate_limited: ${limited}`);
        await c.answerClose();

        // Reconnecting with the same token gives no fresh budget: the first message is refused.
        again = await rawWs(url, chat.client_token);
        await again.write(
          wsFrame(
            OP.TEXT,
            JSON.stringify({ type: "message", payload: { text: "after" }, ref: "m7" }),
          ),
        );
        let r = await again.json();
        while (r.type !== "error" && r.type !== "ack") r = await again.json();
        assert.equal(r.type, "error", JSON.stringify(r));
        assert.equal(r.payload.code, "rate_limited", JSON.stringify(r));
        assert.equal(r.payload.retryable, true);
        await again.closeWs();
        // Nothing of it was stored: the acked messages only.
        const stored = await history(h.http, url, chat.chat_id, chat.client_token);
        assert.deepEqual(
          stored.filter((e) => e.type === "message").map((e) => e.payload.message),
          sent,
        );
      } finally {
        c.close();
        again?.close();
      }
    });

    await h.group(
      t,
      "pings count against the frame budget, over all of a user's connections",
      async () => {
        const chat = await newChat(h.http, url);
        const c = await rawWs(url, chat.client_token);
        const other = await rawWs(url, chat.client_token);
        try {
          const pings = Array.from(
            { length: 65 },
            (_, i) => wsFrame(OP.TEXT, JSON.stringify({ type: "ping", ref: `p${i}` })),
          );
          await c.write(concat(...pings));
          const replies: Json[] = [];
          while (replies.length < 65) {
            const f = await c.json();
            if (f.type === "pong" || f.type === "error") replies.push(f);
          }
          // The first 60 pings are answered (replies come in any order), the last 5 refused.
          const pongs = replies.filter((r) => r.type === "pong").map((r) => r.ref!);
          assert.deepEqual(
            pongs.sort((a, b) => Number(a.slice(1)) - Number(b.slice(1))),
            Array.from({ length: 60 }, (_, i) => `p${i}`),
          );
          const errors = replies.filter((r) => r.type === "error").map((r) => r.payload.code);
          assert.deepEqual(errors, Array(5).fill("rate_limited"));
          // The budget is the user's: a frame on another connection of the same token is refused.
          await other.write(
            wsFrame(OP.TEXT, JSON.stringify({ type: "typing", payload: { is_typing: true } })),
          );
          let r = await other.json();
          while (r.type !== "error" && r.type !== "ack") r = await other.json();
          assert.equal(r.payload.code, "rate_limited", JSON.stringify(r));
          await c.closeWs();
          await other.closeWs();
        } finally {
          c.close();
          other.close();
        }
      },
    );

    await h.group(t, "a frame refused for the frame budget still gets its ref echoed", async () => {
      // PROTOCOL.md, "ref echo": every inbound frame gets exactly one reply, with the frame's
      // ref when it had a valid one (its example is a rate_limited error with ref "c-1"); the
      // web client (web/chat_client.js) matches replies by ref only.
      const chat = await newChat(h.http, url);
      const c = await rawWs(url, chat.client_token);
      try {
        const frames = Array.from(
          { length: 61 },
          (_, i) =>
            wsFrame(OP.TEXT, JSON.stringify({ type: "ping", ref: i < 60 ? `p${i}` : "over" })),
        );
        await c.write(concat(...frames));
        const replies: Json[] = [];
        while (replies.length < 61) {
          const f = await c.json();
          if (f.type === "pong" || f.type === "error") replies.push(f);
        }
        const refusal = replies.find((r) => r.type === "error");
        assert.equal(refusal?.payload.code, "rate_limited", JSON.stringify(replies));
        assert.equal(refusal.ref, "over", `the refusal has no ref: ${JSON.stringify(refusal)}`);
        await c.closeWs();
      } finally {
        c.close();
      }
    });
  } finally {
    await h.stop();
  }
});

// -------------------------------------------------------------------------------------------------

/** POST /chats from this test process, with extra headers; status, Retry-After and body. */
async function create(h: Hostile, headers: Record<string, string> = {}, path = CHATS) {
  const r = await h.http.text(`${h.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: "{}",
  });
  return { ...r, retryAfter: r.headers.get("retry-after") };
}

function assertRateLimited(r: Awaited<ReturnType<typeof create>>, what: string): void {
  assert.equal(refused(r, 429, what), "rate_limited", what);
  assert.equal(JSON.parse(r.text).error.retryable, true);
  assert.match(r.retryAfter ?? "", /^\d+$/, `${what}: Retry-After ${r.retryAfter}`);
  assert.ok(Number(r.retryAfter) >= 1, `${what}: Retry-After ${r.retryAfter}`);
}

Deno.test("hostile: chat creation is rate-limited per address; a spoofed X-Forwarded-For does not escape", async (t) => {
  const h = await Hostile.start("rate", { CREATE_RATE_PER_ADDRESS: "5" });
  try {
    await h.group(t, "the 6th new chat from one address gets 429 with Retry-After", async () => {
      // The bystander's chat was the 1st from 127.0.0.1; four more anonymous ones pass.
      for (let i = 2; i <= 5; i++) assert.equal((await create(h)).status, 201, `chat ${i}`);
      assertRateLimited(await create(h), "the 6th");
      // Headers a client may set do not make another address without a trusted proxy.
      const spoofs: Record<string, string>[] = [
        { "x-forwarded-for": "203.0.113.7" },
        { "x-forwarded-for": "203.0.113.7, 198.51.100.9" },
        { "x-real-ip": "203.0.113.8" },
        { "forwarded": "for=203.0.113.9" },
        { "x-edge-client-addr": "203.0.113.10" },
      ];
      for (const headers of spoofs) {
        assertRateLimited(await create(h, headers), JSON.stringify(headers));
      }
      // Becoming a visitor shares the budget, and so does a visitor token's new chat.
      assertRateLimited(await create(h, {}, "/api/v1/chat/visitors"), "/visitors");
      const visitor = (await auth.issueVisitorToken("rate-visitor")).token;
      assertRateLimited(await create(h, { authorization: `Bearer ${visitor}` }), "visitor token");
    });
  } finally {
    await h.stop();
  }
});

Deno.test("hostile: behind one trusted proxy hop, X-Forwarded-For addresses have their own budgets", async (t) => {
  const h = await Hostile.start("hops", { CREATE_RATE_PER_ADDRESS: "5", TRUSTED_PROXY_HOPS: "1" });
  try {
    await h.group(t, "two forwarded addresses, five chats each, then 429", async () => {
      for (const addr of ["198.51.100.1", "198.51.100.2"]) {
        const xff = { "x-forwarded-for": addr };
        for (let i = 1; i <= 5; i++) {
          assert.equal((await create(h, xff)).status, 201, `${addr} #${i}`);
        }
        assertRateLimited(await create(h, xff), `${addr} #6`);
      }
      // The client's own entries left of the proxy's do not escape the limit.
      assertRateLimited(
        await create(h, { "x-forwarded-for": "203.0.113.50, 198.51.100.1" }),
        "a spoofed entry left of the trusted hop",
      );
      // The proxy itself (no X-Forwarded-For) is one more address, with its own budget: the
      // bystander used one of its five.
      for (let i = 2; i <= 5; i++) assert.equal((await create(h)).status, 201, `proxy #${i}`);
      assertRateLimited(await create(h), "proxy #6");
    });
  } finally {
    await h.stop();
  }
});

// -------------------------------------------------------------------------------------------------

Deno.test("hostile: slow and unfinished requests are timed out, others are served meanwhile", async (t) => {
  const h = await Hostile.start("slow", {
    HEADERS_TIMEOUT_S: "1",
    BODY_TIMEOUT_S: "1",
    KEEPALIVE_TIMEOUT_S: "2",
    MAX_CONNECTIONS_PER_ADDRESS: "1000",
  });
  try {
    const url = h.url;

    await h.group(t, "300 connections that send half a request head", async () => {
      const conns = await Promise.all(Array.from({ length: 300 }, () => RawConn.open(url)));
      try {
        const start = performance.now();
        await Promise.all(
          conns.map((c, i) => c.write(`GET /healthz HTTP/1.1\r\nHost: ${c.host}\r\nX-Slow-${i}: `)),
        );
        const ends = conns.map((c) => c.waitEnd(20_000));
        // A well-behaved request on another connection is answered meanwhile.
        const ok = await h.http.text(`${url}/healthz`);
        assert.equal(ok.status, 200);
        const stillOpen = conns.filter((c) => c.ended === null).length;
        assert.ok(stillOpen > 0, "the half-open heads were all gone before a request was served");
        await Promise.all(ends);
        const elapsed = performance.now() - start;
        for (const c of conns) {
          const got = c.peek();
          assert.ok(
            got === "" || got.startsWith("HTTP/1.1 408 "),
            `got ${JSON.stringify(got.slice(0, 40))}`,
          );
        }
        const answered408 = conns.filter((c) => c.peek().startsWith("HTTP/1.1 408 ")).length;
        console.log(
          `300 half heads: all closed in ${Math.round(elapsed)} ms (${answered408} with 408)`,
        );
        assert.ok(elapsed < 10_000, `closing took ${elapsed} ms`);
      } finally {
        for (const c of conns) c.close();
      }
    });

    await h.group(t, "a body that stops mid-way, and an idle keep-alive connection", async () => {
      for (
        const [name, head, part] of [
          ["Content-Length", { "Content-Length": "100" }, '{"name":'],
          ["chunked", { "Transfer-Encoding": "chunked" }, '8\r\n{"name":\r\n'],
        ] as const
      ) {
        const c = await RawConn.open(url);
        try {
          await c.write(
            requestHead("POST", CHATS, c.host, { "Content-Type": "application/json", ...head }),
          );
          await c.write(part);
          const start = performance.now();
          await c.waitEnd(10_000);
          const elapsed = performance.now() - start;
          console.log(`body stopped mid-way (${name}): closed after ${Math.round(elapsed)} ms`);
          assert.ok(elapsed >= 500, `closed after ${elapsed} ms: not by the body timeout`);
          const got = c.peek();
          assert.ok(got === "" || !/^HTTP\/1\.1 5/.test(got), got.slice(0, 80));
        } finally {
          c.close();
        }
      }

      const idle = await RawConn.open(url);
      try {
        await idle.write(requestHead("GET", "/healthz", idle.host));
        assert.equal((await idle.response()).status, 200);
        const start = performance.now();
        await idle.waitEnd(10_000);
        const elapsed = performance.now() - start;
        console.log(`idle keep-alive connection: closed after ${Math.round(elapsed)} ms`);
        assert.ok(elapsed >= 1_000, `closed after ${elapsed} ms: not by the keep-alive timeout`);
        assert.equal(idle.peek(), "");
      } finally {
        idle.close();
      }
    });
  } finally {
    await h.stop();
  }
});
