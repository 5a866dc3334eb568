// @ts-check
/**
 * Attachments in the widget and the console: upload a picked file
 * (`POST /api/v1/chat/chats/{chat}/attachments`), and show a message's files as links, images
 * as thumbnails. A file's `url` needs the token, so it is exchanged (with the token in a header,
 * never in a link) for the signed, expiring URL the link and the thumbnail then use.
 */
import { h } from "./dom.js";

/**
 * @typedef {{ id: string, name: string, mime: string, size: number, url: string }} AttachmentOut
 */

/** Signed URLs by attachment id, reused until shortly before they expire. */
/** @type {Map<string, { url: string, until: number } | Promise<string>>} */
const signed = new Map();

/** The signed URL of an attachment (cached); rejects with the server's message. */
export function signedUrl(/** @type {AttachmentOut} */ a, /** @type {string} */ token) {
  const hit = signed.get(a.id);
  if (hit instanceof Promise) return hit;
  if (hit && hit.until > Date.now()) return Promise.resolve(hit.url);
  const p = fetch(`${a.url}?format=json`, { headers: { authorization: `Bearer ${token}` } })
    .then(async (res) => {
      const body = await res.json().catch(() => ({}));
      if (!res.ok) throw new Error(body?.error?.message ?? `HTTP ${res.status}`);
      // Refresh 30 s early so a click never meets an expired link.
      signed.set(a.id, { url: body.url, until: Date.parse(body.expires_at) - 30_000 });
      return /** @type {string} */ (body.url);
    })
    .catch((err) => {
      signed.delete(a.id);
      throw err;
    });
  signed.set(a.id, p);
  return p;
}

/** "12 KB", "1.4 MB". */
export function fmtSize(/** @type {number} */ n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${Math.round(n / 1024)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/**
 * The files of a message: a download link each, and a thumbnail for images.
 * @param {AttachmentOut[] | undefined} list @param {string | undefined} token
 * @returns {HTMLElement | null}
 */
export function attachmentList(list, token) {
  if (!list?.length || !token) return null;
  return h("div", { class: "attachments" }, ...list.map((a) => attachmentItem(a, token)));
}

function attachmentItem(/** @type {AttachmentOut} */ a, /** @type {string} */ token) {
  const image = a.mime.startsWith("image/");
  const thumb = image ? h("img", { class: "att-thumb", alt: a.name }) : null;
  const link = h(
    "a",
    {
      class: "att",
      href: "#",
      rel: "noopener",
      dataset: { attachmentId: a.id },
      on: {
        click: (/** @type {MouseEvent} */ e) => {
          e.preventDefault();
          signedUrl(a, token).then((u) => location.assign(u)).catch(() => {});
        },
      },
    },
    thumb,
    h("span", { class: "att-name", text: a.name }),
    h("span", { class: "att-size", text: fmtSize(a.size) }),
  );
  signedUrl(a, token)
    .then((u) => {
      link.setAttribute("href", u);
      if (thumb) thumb.setAttribute("src", u);
    })
    .catch((err) => link.setAttribute("title", `Not available: ${err.message}`));
  return link;
}

/**
 * Uploads a file to a chat; resolves with its metadata (`id` goes into the message).
 * @param {string} token @param {string} chatId @param {File} file
 * @returns {Promise<{ id: string, name: string, mime: string, size: number }>}
 */
export async function uploadFile(token, chatId, file) {
  const form = new FormData();
  form.append("file", file, file.name);
  const res = await fetch(`/api/v1/chat/chats/${encodeURIComponent(chatId)}/attachments`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}` },
    body: form,
  });
  const body = await res.json().catch(() => ({}));
  if (res.status !== 201) throw new Error(body?.error?.message ?? `HTTP ${res.status}`);
  return body;
}

/**
 * Wires an attach button to a hidden file input: each picked file is uploaded, then `send(ids)`
 * sends the message (to the chat picked for); `onError(message)` reports a refusal (too large,
 * type not allowed, …).
 * @typedef {{ token: string, chatId: string }} UploadTarget
 * @param {HTMLButtonElement} button @param {HTMLInputElement} input
 * @param {() => UploadTarget | null} target
 * @param {(ids: string[], target: UploadTarget) => void} send
 * @param {(message: string) => void} onError
 */
export function wireAttachButton(button, input, target, send, onError) {
  button.addEventListener("click", () => input.click());
  input.addEventListener("change", async () => {
    const files = [...(input.files ?? [])].slice(0, 10);
    const t = target();
    input.value = "";
    if (!t || files.length === 0) return;
    button.disabled = true;
    try {
      const ids = [];
      for (const f of files) ids.push((await uploadFile(t.token, t.chatId, f)).id);
      send(ids, t);
    } catch (err) {
      onError(`Could not attach the file: ${/** @type {Error} */ (err).message}`);
    } finally {
      button.disabled = false;
    }
  });
}
