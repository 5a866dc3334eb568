import assert from "node:assert/strict";
import { RawHttp } from "../../bench/_rawhttp.ts";

const enc = new TextEncoder();

function serve(handler: (req: Request) => Response | Promise<Response>) {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
}

Deno.test("bench raw HTTP: sized bodies one after another on one keep-alive connection", async () => {
  const seen: string[] = [];
  await using server = serve(async (req) => {
    seen.push(`${req.method} ${new URL(req.url).pathname} ${await req.text()}`);
    return new Response(`answer ${seen.length} ` + "é".repeat(3000));
  });
  const http = await RawHttp.connect(`http://127.0.0.1:${server.addr.port}`);
  try {
    for (let i = 1; i <= 3; i++) {
      const r = await http.request("POST", `/p${i}`, `body ${i}`, "content-type: text/plain\r\n");
      assert.equal(r.status, 200);
      assert.equal(r.body, `answer ${i} ` + "é".repeat(3000));
    }
    assert.deepEqual(seen, ["POST /p1 body 1", "POST /p2 body 2", "POST /p3 body 3"]);
  } finally {
    http.close();
  }
});

Deno.test("bench raw HTTP: a chunked stream arrives piece by piece and its end is told", async () => {
  const gate = Promise.withResolvers<void>();
  await using server = serve(() =>
    new Response(
      new ReadableStream<Uint8Array>({
        async start(c) {
          c.enqueue(enc.encode("data: one\n\n"));
          await gate.promise;
          c.enqueue(enc.encode("data: two\n\n"));
          c.close();
        },
      }),
      { headers: { "content-type": "text/event-stream" } },
    )
  );
  const http = await RawHttp.connect(`http://127.0.0.1:${server.addr.port}`);
  const dec = new TextDecoder();
  let text = "";
  const first = Promise.withResolvers<void>();
  const ended = Promise.withResolvers<string | null>();
  const status = await http.send("GET", "/events", {
    onBody: (b) => {
      text += dec.decode(b, { stream: true });
      if (text.includes("one")) first.resolve();
    },
    onEnd: (why) => ended.resolve(why),
  });
  assert.equal(status, 200);
  await first.promise;
  assert.equal(text, "data: one\n\n", "the first piece comes before the second is written");
  gate.resolve();
  assert.equal(await ended.promise, null);
  assert.equal(text, "data: one\n\ndata: two\n\n");
  // The connection stays usable after a chunked body.
  assert.equal((await http.request("GET", "/events")).body, "data: one\n\ndata: two\n\n");
  http.close();
});

Deno.test("bench raw HTTP: a dropped connection fails the request in flight", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const http = await RawHttp.connect(`http://127.0.0.1:${listener.addr.port}`);
  const conn = await accepted;
  const pending = http.request("GET", "/");
  await conn.read(new Uint8Array(1024));
  conn.close();
  await assert.rejects(pending, /closed/);
  listener.close();
});
