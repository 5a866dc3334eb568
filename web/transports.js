// @ts-check
/**
 * The two transports of the chat protocol, behind one small interface used by `chat_client.js`:
 *
 * - `WsTransport`: one WebSocket; frames both ways are JSON text messages.
 * - `SseTransport`: a `text/event-stream` read with `fetch` (each event's `data:` is one JSON
 *   frame), and `POST …/sse/send?connection_id=…` for each outbound frame, whose response body is
 *   the reply frame (ack, error or pong).
 *
 * Both call `handlers.onFrame(frame)` for each frame received and `handlers.onClose({code, reason})`
 * once when the connection ends by itself (not after `close()`).
 */

/**
 * @typedef {{ type: string, payload: Record<string, any>, ref?: string }} Frame
 * @typedef {{ code: number, reason: string }} CloseInfo
 * @typedef {{ onFrame(frame: Frame): void, onClose(info: CloseInfo): void }} Handlers
 */

/** @param {string} text @returns {Frame | null} */
function parseFrame(text) {
  try {
    const f = JSON.parse(text);
    return f && typeof f === "object" && typeof f.type === "string" ? f : null;
  } catch {
    return null;
  }
}

export class WsTransport {
  kind = "ws";
  /** @type {string | null} */
  connectionId = null;
  #closed = false;
  #ws;
  #h;

  /** @param {string} url @param {Handlers} handlers */
  constructor(url, handlers) {
    this.#h = handlers;
    this.#ws = new WebSocket(url);
    this.#ws.onmessage = (e) => {
      const f = typeof e.data === "string" ? parseFrame(e.data) : null;
      if (f && !this.#closed) this.#h.onFrame(f);
    };
    this.#ws.onclose = (e) => this.#end({ code: e.code, reason: e.reason });
  }

  /** @param {CloseInfo} info */
  #end(info) {
    if (this.#closed) return;
    this.#closed = true;
    this.#h.onClose(info);
  }

  /** @param {Frame} frame @returns {boolean} whether it was handed to the socket */
  send(frame) {
    if (this.#closed || this.#ws.readyState !== WebSocket.OPEN) return false;
    this.#ws.send(JSON.stringify(frame));
    return true;
  }

  close() {
    this.#closed = true;
    try {
      this.#ws.close(1000, "client_close");
    } catch { /* already closing */ }
  }
}

export class SseTransport {
  kind = "sse";
  /** @type {string | null} */
  connectionId = null;
  #closed = false;
  #ac = new AbortController();
  #sendUrl;
  #h;

  /**
   * @param {string} streamUrl `…/api/v1/chat/sse?token=…`
   * @param {string} sendUrl `…/api/v1/chat/sse/send?token=…` (connection_id is added)
   * @param {Handlers} handlers
   */
  constructor(streamUrl, sendUrl, handlers) {
    this.#sendUrl = sendUrl;
    this.#h = handlers;
    this.#read(streamUrl);
  }

  /** @param {string} url */
  async #read(url) {
    /** @type {CloseInfo} */
    let end = { code: 1006, reason: "stream_ended" };
    try {
      const res = await fetch(url, {
        headers: { accept: "text/event-stream" },
        cache: "no-store",
        signal: this.#ac.signal,
      });
      if (!res.ok || !res.body) {
        // Like the WebSocket's 1008: a refused token is final, anything else is retried.
        const code = res.status === 401 || res.status === 403 ? 1008 : 1006;
        end = { code, reason: `http_${res.status}` };
        res.body?.cancel().catch(() => {});
      } else {
        await this.#parse(res.body.pipeThrough(new TextDecoderStream()).getReader());
      }
    } catch (err) {
      end = { code: 1006, reason: err instanceof Error ? err.message : String(err) };
    }
    this.#end(end);
  }

  /** Server-sent events: `data:` lines up to a blank line make one event. */
  /** @param {ReadableStreamDefaultReader<string>} reader */
  async #parse(reader) {
    let buf = "";
    /** @type {string[]} */
    let data = [];
    for (;;) {
      const { value, done } = await reader.read();
      if (done || this.#closed) return;
      buf += value;
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl).replace(/\r$/, "");
        buf = buf.slice(nl + 1);
        if (line === "") {
          const f = data.length > 0 ? parseFrame(data.join("\n")) : null;
          data = [];
          if (f && !this.#closed) this.#h.onFrame(f);
        } else if (line.startsWith("data:")) {
          data.push(line.slice(line[5] === " " ? 6 : 5));
        } // `id:`, `event:`, `retry:` and `:` comments: the JSON frame says it all.
      }
    }
  }

  /** @param {CloseInfo} info */
  #end(info) {
    if (this.#closed) return;
    this.#closed = true;
    this.#ac.abort();
    this.#h.onClose(info);
  }

  /** @param {Frame} frame @returns {boolean} */
  send(frame) {
    if (this.#closed || !this.connectionId) return false;
    const url = `${this.#sendUrl}&connection_id=${encodeURIComponent(this.connectionId)}`;
    fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(frame),
      cache: "no-store",
    }).then(async (res) => {
      const text = await res.text();
      if (this.#closed) return;
      const reply = parseFrame(text);
      if (reply) return this.#h.onFrame(reply);
      /** @type {any} */
      let body = null;
      try {
        body = JSON.parse(text);
      } catch { /* not JSON */ }
      if (body?.error?.code) {
        // A REST error: make it the error frame answering this frame.
        this.#h.onFrame({ type: "error", payload: body.error, ref: frame.ref });
        // 401: the token is refused; 404/409/410: our stream is gone, open a new one.
        if (res.status === 401) this.#end({ code: 1008, reason: body.error.code });
        else if ([404, 409, 410].includes(res.status)) {
          this.#end({ code: 1006, reason: "connection_gone" });
        }
      } else if (!res.ok) {
        this.#end({ code: 1006, reason: `send_http_${res.status}` });
      }
    }).catch((err) => {
      if (!this.#closed) this.#end({ code: 1006, reason: String(err) });
    });
    return true;
  }

  close() {
    this.#closed = true;
    this.#ac.abort();
  }
}

/**
 * Opens a WebSocket only to see whether it works: `onResult(true)` once the server's `connected`
 * frame arrives, `onResult(false)` if it closes first. The socket is closed either way.
 * @param {string} url @param {(ok: boolean) => void} onResult
 */
export function probeWebSocket(url, onResult) {
  const ws = new WebSocket(url);
  const done = (/** @type {boolean} */ ok) => {
    ws.onmessage = ws.onclose = null;
    ws.close();
    onResult(ok);
  };
  ws.onmessage = (e) => done(parseFrame(String(e.data))?.type === "connected");
  ws.onclose = () => done(false);
}
