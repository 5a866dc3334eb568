// @ts-check
/**
 * Attachments in the widget and the console: upload files (`POST /api/v1/chat/chats/{chat}/
 * attachments`) picked with the attach button, pasted or dropped — one path with the same checks
 * for all three — and show a message's files as links, images as thumbnails. A file's `url`
 * needs the token, so it is exchanged (with the token in a header, never in a link) for the
 * signed, expiring URL the link and the thumbnail then use.
 */
import { h } from "./dom.js";
import { apiJson, errorCode, errorText } from "./errors.js";
import { fmtNumber, t } from "./i18n.js";

/**
 * @typedef {{ id: string, name: string, mime: string, size: number, url: string }} AttachmentOut
 * @typedef {{ token: string, chatId: string }} UploadTarget
 */

/** Files one message may carry (the server's limit too). */
export const MAX_FILES = 10;

/** Signed URLs by attachment id, reused until shortly before they expire. */
/** @type {Map<string, { url: string, until: number } | Promise<string>>} */
const signed = new Map();

/** The signed URL of an attachment (cached); rejects with an ApiError. */
export function signedUrl(/** @type {AttachmentOut} */ a, /** @type {string} */ token) {
  const hit = signed.get(a.id);
  if (hit instanceof Promise) return hit;
  if (hit && hit.until > Date.now()) return Promise.resolve(hit.url);
  const p = apiJson(`${a.url}?format=json`, { headers: { authorization: `Bearer ${token}` } })
    .then((body) => {
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

/** "12 kB", "1,4 МБ": the size in the page's language. */
export function fmtSize(/** @type {number} */ n) {
  const [unit, value] = n < 1024
    ? ["byte", n]
    : n < 1024 * 1024
    ? ["kilobyte", Math.round(n / 1024)]
    : ["megabyte", n / 1024 / 1024];
  // "long" for bytes: CLDR's short English byte is "12 byte".
  const unitDisplay = unit === "byte" ? "long" : "short";
  return fmtNumber(value, { style: "unit", unit, unitDisplay, maximumFractionDigits: 1 });
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
    .catch((err) =>
      link.setAttribute("title", t("common.attach.unavailable", { reason: errorText(err) }))
    );
  return link;
}

/**
 * Uploads a file to a chat; resolves with its metadata (`id` goes into the message); rejects
 * with an ApiError.
 * @param {string} token @param {string} chatId @param {File} file
 * @returns {Promise<{ id: string, name: string, mime: string, size: number }>}
 */
export async function uploadFile(token, chatId, file) {
  const form = new FormData();
  form.append("file", file, file.name);
  return await apiJson(`/api/v1/chat/chats/${encodeURIComponent(chatId)}/attachments`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}` },
    body: form,
  });
}

/** Why a file was refused, in the reader's words (the server says `invalid_payload` for types). */
function refusal(/** @type {unknown} */ err) {
  const code = errorCode(err);
  if (code === "invalid_payload") return t("common.attach.type_refused");
  if (code === "file_too_large" || code === "body_too_large") return t("common.attach.too_large");
  return errorText(err);
}

/**
 * One way to send files, whichever way they came (button, paste, drop): at most
 * {@link MAX_FILES}, none empty, each uploaded in turn, then `send(ids, target)` sends them in
 * one message; `onError(text)` says what went wrong; `busy(on)` while uploading.
 * @param {() => UploadTarget | null} target
 * @param {(ids: string[], target: UploadTarget) => void} send
 * @param {(text: string) => void} onError
 * @param {(on: boolean) => void} [busy]
 * @returns {(files: File[]) => Promise<void>}
 */
export function fileSender(target, send, onError, busy = () => {}) {
  return async (files) => {
    const to = target();
    if (!to || files.length === 0) return;
    if (files.length > MAX_FILES) return onError(t("common.attach.too_many", { count: MAX_FILES }));
    const empty = files.find((f) => f.size === 0);
    if (empty) {
      return onError(
        t("common.attach.failed", { name: empty.name, reason: t("common.attach.empty") }),
      );
    }
    busy(true);
    try {
      const ids = [];
      for (const f of files) {
        try {
          ids.push((await uploadFile(to.token, to.chatId, f)).id);
        } catch (err) {
          return onError(t("common.attach.failed", { name: f.name, reason: refusal(err) }));
        }
      }
      send(ids, to);
    } finally {
      busy(false);
    }
  };
}

/**
 * Wires an attach button to a hidden file input: the picked files go through
 * {@link fileSender}. Returns that sender, for paste and drop to use too.
 * @param {HTMLButtonElement} button @param {HTMLInputElement} input
 * @param {() => UploadTarget | null} target
 * @param {(ids: string[], target: UploadTarget) => void} send
 * @param {(text: string) => void} onError
 */
export function wireAttachButton(button, input, target, send, onError) {
  const sendFiles = fileSender(target, send, onError, (on) => (button.disabled = on));
  button.addEventListener("click", () => input.click());
  input.addEventListener("change", () => {
    const files = [...(input.files ?? [])];
    input.value = "";
    void sendFiles(files);
  });
  return sendFiles;
}

/** Whether a drag carries files (not text or a link dragged within the page). */
function hasFiles(/** @type {DragEvent} */ e) {
  return [...(e.dataTransfer?.types ?? [])].includes("Files");
}

/**
 * Files pasted into `paste` or dropped on `zone` go to `onFiles`; while files are dragged over
 * the zone it gets the class `dragging` (its drop hint shows). `enabled()` false: ignored.
 * @param {{ zone: HTMLElement, paste: HTMLElement, onFiles: (files: File[]) => void,
 *   enabled: () => boolean }} o
 */
export function wireFileDrop(o) {
  let depth = 0;
  const set = (/** @type {boolean} */ on) => o.zone.classList.toggle("dragging", on);
  o.zone.addEventListener("dragenter", (e) => {
    if (!hasFiles(e) || !o.enabled()) return;
    e.preventDefault();
    depth++;
    set(true);
  });
  o.zone.addEventListener("dragover", (e) => {
    if (!hasFiles(e) || !o.enabled()) return;
    e.preventDefault(); // allows the drop
    if (e.dataTransfer) e.dataTransfer.dropEffect = "copy";
  });
  o.zone.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (depth === 0) set(false);
  });
  o.zone.addEventListener("drop", (e) => {
    depth = 0;
    set(false);
    if (!hasFiles(e) || !o.enabled()) return;
    e.preventDefault();
    o.onFiles([...(e.dataTransfer?.files ?? [])]);
  });
  o.paste.addEventListener("paste", (e) => {
    const files = [...(e.clipboardData?.files ?? [])];
    if (files.length === 0 || !o.enabled()) return; // text: pasted as usual
    e.preventDefault();
    o.onFiles(files);
  });
}
