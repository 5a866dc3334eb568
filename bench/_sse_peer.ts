/**
 * The client side of a pair over SSE (`--transport sse`): one event stream per client (frames
 * from its `data:` lines) and `POST …/sse/send` for what it sends: one POST in flight per client,
 * carrying every frame queued meanwhile as a batch; its answer is the array of replies. With
 * `--client raw` (the default) the stream and the POSTs each use one lean keep-alive connection
 * (bench/_rawhttp.ts), as a browser keeps its EventSource and its fetch connection; with
 * `--client std`, `fetch`.
 */
import { chatParams, FramePeer } from "./_client_peer.ts";
import type { ClientKind, ErrorLog } from "./_peer.ts";
import { RawHttp } from "./_rawhttp.ts";

/** How a peer reaches the server: the stream once, then POSTs one at a time. */
interface Http {
  /** Opens the stream; its body text goes to `onText` until it ends (`onEnd`). */
  stream(path: string, onText: (t: string) => void, onEnd: (why: string) => void): Promise<void>;
  post(path: string, body: string): Promise<{ status: number; body: string }>;
  close(): void;
}

export class SsePeer extends FramePeer {
  #http: Http | null = null;
  #sendPath = "";
  #onEnd: ((why: string) => void) | null = null;
  readonly #queue: string[] = [];
  #posting = false;

  private constructor(errors: ErrorLog) {
    super(errors);
  }

  /** Opens the stream of chat `wsUrl`'s token and waits for its `connected` frame. */
  static async open(
    baseUrl: string,
    wsUrl: string,
    errors: ErrorLog,
    kind: ClientKind = "raw",
    timeoutMs = 30_000,
  ): Promise<SsePeer> {
    const { token, chat_id } = chatParams(wsUrl);
    const q = `token=${encodeURIComponent(token)}`;
    const peer = new SsePeer(errors);
    peer.#http = kind === "raw" ? await rawHttp(baseUrl) : fetchHttp(baseUrl);
    const connected = peer.waitFor("connected", () => true, timeoutMs);
    const ended = new Promise<never>((_, reject) => {
      peer.#onEnd = (why) => reject(new Error(`SSE stream ended before connected: ${why}`));
    });
    try {
      let buf = "";
      await peer.#http.stream(`/api/v1/chat/sse?${q}&chat_id=${chat_id}`, (text) => {
        buf += text;
        let start = 0;
        for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n", start)) {
          if (buf.startsWith("data: ", start)) peer.#frame(buf.slice(start + 6, nl));
          start = nl + 1;
        }
        buf = buf.slice(start);
      }, (why) => {
        if (!peer.closing) peer.errors.add("sse_closed", why);
        peer.#onEnd?.(why);
      });
      const f = await Promise.race([connected, ended]);
      const id = encodeURIComponent(String(f.payload.connection_id));
      peer.#sendPath = `/api/v1/chat/sse/send?${q}&connection_id=${id}`;
      return peer;
    } catch (err) {
      peer.close();
      throw err;
    } finally {
      peer.#onEnd = null;
    }
  }

  #frame(raw: string): void {
    this.dispatch(raw);
    if (raw.startsWith('{"type":"ping"') && this.#sendPath) { // heartbeat: answer as a client would
      const id = (JSON.parse(raw) as { payload: { id?: unknown } }).payload.id;
      if (typeof id === "string") {
        this.#post(`{"type":"pong","payload":{"id":${JSON.stringify(id)}}}`);
      }
    }
  }

  sendRaw(text: string): void {
    this.#post(text);
  }

  /**
   * Queues one frame. One POST is in flight per client; frames queued meanwhile go together as a
   * batch (a JSON array, up to 100) in the next POST, whose answer is the array of replies.
   */
  #post(text: string): void {
    this.#queue.push(text);
    if (!this.#posting) void this.#flush();
  }

  async #flush(): Promise<void> {
    this.#posting = true;
    while (this.#queue.length > 0 && !this.closing) {
      const batch = this.#queue.splice(0, 100);
      try {
        const res = await this.#http!.post(this.#sendPath, `[${batch.join(",")}]`);
        const body = res.body;
        if (res.status !== 200) {
          for (let i = 0; i < batch.length; i++) this.#fail(`http_${res.status}`, body);
          continue;
        }
        for (const reply of JSON.parse(body) as unknown[]) {
          if (reply !== null) this.dispatch(JSON.stringify(reply));
        }
      } catch (err) {
        if (!this.closing) {
          for (let i = 0; i < batch.length; i++) this.#fail("post_failed", String(err));
        }
      }
    }
    this.#posting = false;
  }

  /** A send that got no reply frame, reported as an error frame so the load counts it. */
  #fail(code: string, detail: string): void {
    this.dispatch(JSON.stringify({ type: "error", payload: { code, message: detail } }));
  }

  close(): void {
    this.closing = true;
    this.#http?.close();
  }
}

async function rawHttp(baseUrl: string): Promise<Http> {
  const [events, sends] = await Promise.all([RawHttp.connect(baseUrl), RawHttp.connect(baseUrl)]);
  const dec = new TextDecoder();
  return {
    async stream(path, onText, onEnd) {
      const status = await events.send(
        "GET",
        path,
        {
          onBody: (b) => onText(dec.decode(b, { stream: true })),
          onEnd: (why) => onEnd(why ?? "stream ended by server"),
        },
        "",
        "accept: text/event-stream\r\n",
      );
      if (status !== 200) throw new Error(`SSE stream: ${status}`);
    },
    post: (path, body) => sends.request("POST", path, body, "content-type: application/json\r\n"),
    close() {
      events.close();
      sends.close();
    },
  };
}

function fetchHttp(baseUrl: string): Http {
  const ctl = new AbortController();
  return {
    async stream(path, onText, onEnd) {
      const res = await fetch(baseUrl + path, {
        signal: ctl.signal,
        headers: { accept: "text/event-stream" },
      });
      if (res.status !== 200 || !res.body) {
        throw new Error(`SSE stream: ${res.status} ${await res.text()}`);
      }
      void (async () => {
        const dec = new TextDecoder();
        let why = "stream ended by server";
        try {
          for await (const chunk of res.body!) onText(dec.decode(chunk, { stream: true }));
        } catch (err) {
          why = err instanceof Error ? err.message : String(err);
        }
        onEnd(why);
      })();
    },
    async post(path, body) {
      const res = await fetch(baseUrl + path, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      });
      return { status: res.status, body: await res.text() };
    },
    close: () => ctl.abort(),
  };
}
