/**
 * `--webhook`: a webhook receiver in the load generator (loopback, free port, answers 204 at
 * once) and a subscription of the server's chat messages to it, so a run also measures the
 * webhook path: intake, cursors, outbox, dispatcher and the HTTP tries.
 */

export class HookReceiver {
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  /** Deliveries received so far. */
  received = 0;

  constructor() {
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      async (req) => {
        await req.arrayBuffer();
        this.received++;
        return new Response(null, { status: 204 });
      },
    );
  }

  get url(): string {
    return `http://127.0.0.1:${this.#server.addr.port}/hook`;
  }

  /** Subscribes `chat.message` of the server at `base` (admin `token`) to this receiver. */
  async subscribe(base: string, token: string): Promise<void> {
    const res = await fetch(`${base}/api/v1/chat/admin/webhooks`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
      body: JSON.stringify({ url: this.url, events: ["chat.message"] }),
    });
    if (res.status !== 201) {
      throw new Error(`webhook subscription: ${res.status} ${await res.text()}`);
    }
  }

  async close(): Promise<void> {
    await this.#server.shutdown();
  }
}
