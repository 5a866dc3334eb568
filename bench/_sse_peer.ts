/**
 * The client side of a pair over SSE (`--transport sse`): one `fetch` event stream per client
 * (frames from its `data:` lines) and `POST …/sse/send` for what it sends: one POST in flight per
 * client, carrying every frame queued meanwhile as a batch; its answer is the array of replies.
 */
import { chatParams, FramePeer } from "./_client_peer.ts";
import type { ErrorLog } from "./_peer.ts";

const dec = new TextDecoder();

export class SsePeer extends FramePeer {
  readonly #ctl = new AbortController();
  #sendUrl = "";
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
    timeoutMs = 30_000,
  ): Promise<SsePeer> {
    const { token, chat_id } = chatParams(wsUrl);
    const q = `token=${encodeURIComponent(token)}`;
    const peer = new SsePeer(errors);
    const connected = peer.waitFor("connected", () => true, timeoutMs);
    const ended = new Promise<never>((_, reject) => {
      peer.#onEnd = (why) => reject(new Error(`SSE stream ended before connected: ${why}`));
    });
    const res = await fetch(`${baseUrl}/api/v1/chat/sse?${q}&chat_id=${chat_id}`, {
      signal: peer.#ctl.signal,
      headers: { accept: "text/event-stream" },
    });
    if (res.status !== 200 || !res.body) {
      throw new Error(`SSE stream: ${res.status} ${await res.text()}`);
    }
    void peer.#read(res.body);
    try {
      const f = await Promise.race([connected, ended]);
      const id = encodeURIComponent(String(f.payload.connection_id));
      peer.#sendUrl = `${baseUrl}/api/v1/chat/sse/send?${q}&connection_id=${id}`;
      return peer;
    } catch (err) {
      peer.close();
      throw err;
    } finally {
      peer.#onEnd = null;
    }
  }

  async #read(body: ReadableStream<Uint8Array>): Promise<void> {
    let buf = "", why = "stream ended by server";
    try {
      for await (const chunk of body) {
        buf += dec.decode(chunk, { stream: true });
        let start = 0;
        for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n", start)) {
          if (buf.startsWith("data: ", start)) this.#frame(buf.slice(start + 6, nl));
          start = nl + 1;
        }
        buf = buf.slice(start);
      }
    } catch (err) {
      why = err instanceof Error ? err.message : String(err);
    }
    if (!this.closing) this.errors.add("sse_closed", why);
    this.#onEnd?.(why);
  }

  #frame(raw: string): void {
    this.dispatch(raw);
    if (raw.startsWith('{"type":"ping"') && this.#sendUrl) { // heartbeat: answer as a client would
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
        const res = await fetch(this.#sendUrl, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: `[${batch.join(",")}]`,
        });
        const body = await res.text();
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
    this.#ctl.abort();
  }
}
