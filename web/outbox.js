// @ts-check
/**
 * Chat messages waiting for their `ack`, for `chat_client.js`. Each has a `client_msg_id`, so a
 * resend after a reconnect is stored once by the server. Messages go one at a time, in order;
 * the list is kept in `storage` (when given) so a reload sends what was still pending.
 */

/**
 * @typedef {{ client_msg_id: string, chat_id: string | null, text: string,
 *   attachments?: string[],
 *   status: "pending" | "failed", error?: { code: string, message: string } }} OutboxItem
 * @typedef {import("./transports.js").Frame} Frame
 */

/** A random id that also works outside secure contexts (no `crypto.randomUUID` there). */
export function randomId(prefix = "") {
  const b = crypto.getRandomValues(new Uint8Array(12));
  return prefix + Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));

export class Outbox {
  /** @type {OutboxItem[]} */
  #items = [];
  #pumping = false;
  #storage;
  #key;
  #onChange;

  /**
   * @param {Storage | null} storage
   * @param {string} key
   * @param {(items: OutboxItem[], extra?: { acked: OutboxItem, seq: number }) => void} onChange
   */
  constructor(storage, key, onChange) {
    this.#storage = storage && key ? storage : null;
    this.#key = key;
    this.#onChange = onChange;
    try {
      const items = JSON.parse(this.#storage?.getItem(key) ?? "[]");
      if (Array.isArray(items)) this.#items = items.filter((i) => typeof i?.text === "string");
    } catch { /* nothing usable stored */ }
  }

  get items() {
    return this.#items.slice();
  }

  /** @param {string} text @param {string | null} chatId @param {string[]} [attachments] ids */
  add(text, chatId, attachments = []) {
    /** @type {OutboxItem} */
    const item = { client_msg_id: randomId("m-"), chat_id: chatId, text, status: "pending" };
    if (attachments.length) item.attachments = attachments;
    this.#items.push(item);
    this.#changed();
    return item;
  }

  /** Makes a failed message pending again. */
  retry(/** @type {string} */ id) {
    const item = this.#items.find((i) => i.client_msg_id === id);
    if (!item) return;
    item.status = "pending";
    delete item.error;
    this.#changed();
  }

  discard(/** @type {string} */ id) {
    this.#items = this.#items.filter((i) => i.client_msg_id !== id);
    this.#changed();
  }

  /**
   * Sends the pending messages in order while `isOpen()`. A lost connection leaves the rest
   * pending; a retryable error waits and tries again; any other error marks the message failed.
   * @param {(type: string, payload: Record<string, unknown>) => Promise<Frame>} request
   * @param {() => boolean} isOpen
   */
  async pump(request, isOpen) {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (isOpen()) {
        const item = this.#items.find((i) => i.status === "pending");
        if (!item) break;
        try {
          const ack = await request("message", {
            text: item.text,
            client_msg_id: item.client_msg_id,
            ...(item.chat_id ? { chat_id: item.chat_id } : {}),
            ...(item.attachments?.length ? { attachments: item.attachments } : {}),
          });
          this.#items = this.#items.filter((i) => i !== item);
          this.#changed({ acked: item, seq: ack.payload.seq });
        } catch (err) {
          const e = /** @type {{ frame?: Frame | null }} */ (err).frame?.payload;
          if (!e) break; // disconnected: stays pending for the next connection
          if (e.retryable) await sleep(1500);
          else {
            item.status = "failed";
            item.error = { code: e.code, message: e.message };
            this.#changed();
          }
        }
      }
    } finally {
      this.#pumping = false;
    }
  }

  /** @param {{ acked: OutboxItem, seq: number }} [extra] */
  #changed(extra) {
    try {
      this.#storage?.setItem(this.#key, JSON.stringify(this.#items));
    } catch { /* full or disabled */ }
    this.#onChange(this.items, extra);
  }
}
