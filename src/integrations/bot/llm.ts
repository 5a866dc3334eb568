/**
 * A small client for an OpenAI-compatible chat-completions endpoint (OpenAI, Azure-style
 * proxies, Ollama, vLLM, LM Studio…): POST `{url}/chat/completions`, a JSON answer checked with
 * zod. Every failure is an {@link LlmError} with a short reason, so callers can fall back and log
 * why. Requests are bounded: a few in flight, a bounded line behind them, a timeout on the
 * injected clock. The API key goes only into the Authorization header, never into logs or errors.
 */
import { z } from "zod";
import type { Clock } from "../../runtime/clock.ts";
import { TimeoutError, withTimeout } from "../../util/retry.ts";

export interface LlmEndpoint {
  /** Base URL, e.g. `https://api.openai.com/v1`; `/chat/completions` is appended. */
  readonly url: string;
  readonly apiKey?: string;
  readonly model: string;
  readonly timeoutMs: number;
}

export interface ChatMessage {
  readonly role: "system" | "user" | "assistant";
  readonly content: string;
}

export type LlmFailure =
  | "timeout"
  | "rate_limited"
  | "http_error"
  | "network"
  | "bad_json"
  | "invalid_answer"
  | "busy"
  | "closed";

export class LlmError extends Error {
  constructor(readonly reason: LlmFailure, detail: string) {
    super(`LLM ${reason}: ${detail}`);
    this.name = "LlmError";
  }
}

/** Requests waiting for a free slot beyond those in flight; past it callers fail fast (`busy`). */
export const MAX_WAITING = 100;

const CompletionSchema = z.object({
  choices: z.array(z.object({ message: z.object({ content: z.string().nullable() }) })).min(1),
});

export class LlmClient {
  readonly #ep: LlmEndpoint;
  readonly #clock: Clock;
  readonly #maxInFlight: number;
  readonly #maxWaiting: number;
  #inFlight = 0;
  readonly #waiting: Array<() => void> = [];
  /** Aborts every request at shutdown, so stopping never waits for a slow endpoint. */
  readonly #closed = new AbortController();

  constructor(
    endpoint: LlmEndpoint,
    opts: { clock: Clock; maxInFlight: number; maxWaiting?: number },
  ) {
    this.#ep = endpoint;
    this.#clock = opts.clock;
    this.#maxInFlight = Math.max(1, opts.maxInFlight);
    this.#maxWaiting = opts.maxWaiting ?? MAX_WAITING;
  }

  /** Fails every request in flight and every later one (they fall back at once). */
  close(): void {
    this.#closed.abort();
  }

  /** Asks for a JSON object answer and checks it against `schema`. */
  async completeJson<T>(messages: readonly ChatMessage[], schema: z.ZodType<T>): Promise<T> {
    if (this.#closed.signal.aborted) throw new LlmError("closed", "the client is closed");
    await this.#acquire();
    try {
      const content = await this.#post(messages);
      let raw: unknown;
      try {
        raw = JSON.parse(stripFence(content));
      } catch {
        throw new LlmError("bad_json", `answer is not JSON: ${content.slice(0, 80)}`);
      }
      const parsed = schema.safeParse(raw);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new LlmError("invalid_answer", `${issue.path.join(".")}: ${issue.message}`);
      }
      return parsed.data;
    } finally {
      this.#release();
    }
  }

  async #post(messages: readonly ChatMessage[]): Promise<string> {
    try {
      const [res, body] = await withTimeout(async (signal) => {
        const res = await fetch(`${this.#ep.url.replace(/\/+$/, "")}/chat/completions`, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            ...(this.#ep.apiKey ? { authorization: `Bearer ${this.#ep.apiKey}` } : {}),
          },
          body: JSON.stringify({
            model: this.#ep.model,
            messages,
            temperature: 0.2,
            response_format: { type: "json_object" },
          }),
          signal,
        });
        return [res, await res.text()] as const;
      }, { clock: this.#clock, timeoutMs: this.#ep.timeoutMs, signal: this.#closed.signal });
      if (res.status === 429) throw new LlmError("rate_limited", "429 Too Many Requests");
      if (!res.ok) throw new LlmError("http_error", `status ${res.status}`);
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        throw new LlmError("bad_json", "response body is not JSON");
      }
      const parsed = CompletionSchema.safeParse(json);
      if (!parsed.success) throw new LlmError("invalid_answer", "no choices[0].message.content");
      return parsed.data.choices[0].message.content ?? "";
    } catch (err) {
      if (err instanceof LlmError) throw err;
      if (this.#closed.signal.aborted) throw new LlmError("closed", "the client is closed");
      if (err instanceof TimeoutError) {
        throw new LlmError("timeout", `no answer within ${this.#ep.timeoutMs} ms`);
      }
      throw new LlmError("network", (err as Error).message);
    }
  }

  #acquire(): Promise<void> {
    if (this.#inFlight < this.#maxInFlight) {
      this.#inFlight++;
      return Promise.resolve();
    }
    if (this.#waiting.length >= this.#maxWaiting) {
      return Promise.reject(new LlmError("busy", `${this.#maxWaiting} requests already waiting`));
    }
    // The releasing request hands its slot over directly, so the count stays right.
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  #release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#inFlight--;
  }
}

/** Models sometimes wrap JSON in a Markdown code fence despite being asked not to. */
function stripFence(text: string): string {
  const m = /^\s*```(?:json)?\s*([\s\S]*?)\s*```\s*$/i.exec(text);
  return m ? m[1] : text.trim();
}
