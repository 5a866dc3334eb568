// @ts-check
/**
 * Support chat for any page: `<script src="https://chat.example.com/embed.js" async></script>`
 * adds a floating chat button; it opens the widget (`/?embed=1` on the chat server) in an iframe.
 * The widget keeps its chat in its own storage, so a page reload resumes the conversation.
 * Styles are set through the CSSOM (no inline style attributes), which page CSPs allow.
 *
 * A site that knows its user vouches for them (identity verification, docs/SECURITY.md) by
 * setting, before this script, `window.supportChatSettings = { user_id, user_hash }` (or
 * `{ identity_token }`), optionally with `name`, `email` and `attributes`; the widget sends them
 * with the chat it starts, so the same person's chats follow them across devices.
 */
(() => {
  const CHAT_ICON =
    "M4 5.5A2.5 2.5 0 0 1 6.5 3h11A2.5 2.5 0 0 1 20 5.5v8a2.5 2.5 0 0 1-2.5 2.5H10l-4.2 " +
    "3.6A.5.5 0 0 1 5 19.2V16h-.5A.5.5 0 0 1 4 15.5z";
  const CLOSE_ICON = "M6 6l12 12M18 6L6 18";

  /** A 26px stroked/filled icon from one path (SVG through the DOM: no markup parsing). */
  function svgIcon(/** @type {string} */ d) {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "26");
    svg.setAttribute("height", "26");
    svg.setAttribute("aria-hidden", "true");
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", d);
    svg.append(path);
    setIcon(svg, d);
    return svg;
  }

  function setIcon(/** @type {SVGSVGElement} */ svg, /** @type {string} */ d) {
    const path = /** @type {SVGPathElement} */ (svg.firstChild);
    path.setAttribute("d", d);
    const close = d === CLOSE_ICON;
    path.setAttribute("fill", close ? "none" : "#fff");
    path.setAttribute("stroke", close ? "#fff" : "none");
    path.setAttribute("stroke-width", "2.4");
    path.setAttribute("stroke-linecap", "round");
  }

  const script = /** @type {HTMLScriptElement | null} */ (document.currentScript);
  const origin = new URL(script?.src ?? "/embed.js", location.href).origin;
  if (document.getElementById("supportchat-button")) return; // loaded twice

  const blue = "#2563eb";
  const button = document.createElement("button");
  button.id = "supportchat-button";
  button.type = "button";
  button.setAttribute("aria-label", "Open support chat");
  button.setAttribute("aria-expanded", "false");
  const icon = svgIcon(CHAT_ICON);
  button.append(icon);
  Object.assign(button.style, {
    position: "fixed",
    right: "20px",
    bottom: "20px",
    width: "56px",
    height: "56px",
    borderRadius: "50%",
    border: "none",
    background: blue,
    color: "#fff",
    display: "grid",
    placeItems: "center",
    padding: "0",
    cursor: "pointer",
    boxShadow: "0 6px 20px rgba(15, 23, 42, .25)",
    zIndex: "2147483000",
  });

  const badge = document.createElement("span");
  Object.assign(badge.style, {
    position: "absolute",
    top: "-2px",
    right: "-2px",
    minWidth: "20px",
    height: "20px",
    padding: "0 5px",
    borderRadius: "10px",
    background: "#dc2626",
    color: "#fff",
    font: "600 12px/20px system-ui, sans-serif",
    display: "none",
  });
  button.append(badge);

  /** @type {HTMLIFrameElement | null} */
  let frame = null;
  let loaded = false;
  let isOpen = false;
  /** What the page says about its user (see the header); only plain data is passed on. */
  const settings = (() => {
    const v = /** @type {any} */ (globalThis).supportChatSettings;
    if (!v || typeof v !== "object") return null;
    /** @type {Record<string, unknown>} */
    const out = {};
    for (const k of ["user_id", "user_hash", "identity_token", "name", "email"]) {
      if (typeof v[k] === "string") out[k] = v[k];
    }
    if (v.attributes && typeof v.attributes === "object") out.attributes = { ...v.attributes };
    return Object.keys(out).length ? out : null;
  })();
  const tell = () =>
    loaded && frame?.contentWindow?.postMessage({ open: isOpen, identity: settings }, origin);

  function place() {
    if (!frame) return;
    const small = innerWidth < 480;
    Object.assign(
      frame.style,
      small ? { right: "0", bottom: "0", width: "100vw", height: "100dvh", borderRadius: "0" } : {
        right: "20px",
        bottom: "88px",
        width: "380px",
        height: "min(600px, calc(100vh - 110px))",
        borderRadius: "14px",
      },
    );
  }

  function setOpen(/** @type {boolean} */ open) {
    isOpen = open;
    if (open && !frame) {
      frame = document.createElement("iframe");
      frame.src = `${origin}/?embed=1`;
      frame.title = "Support chat";
      frame.id = "supportchat-frame";
      frame.addEventListener("load", () => {
        loaded = true;
        tell();
      });
      Object.assign(frame.style, {
        position: "fixed",
        border: "none",
        background: "#fff",
        boxShadow: "0 12px 40px rgba(15, 23, 42, .3)",
        zIndex: "2147483001",
      });
      document.body.append(frame);
    }
    if (frame) {
      place();
      frame.style.display = open ? "block" : "none";
      tell();
    }
    setIcon(icon, open ? CLOSE_ICON : CHAT_ICON);
    if (open) badge.style.display = "none";
    button.setAttribute("aria-expanded", String(open));
    button.setAttribute("aria-label", open ? "Close support chat" : "Open support chat");
  }

  button.addEventListener("click", () => setOpen(!isOpen));
  addEventListener("resize", place);
  addEventListener("message", (e) => {
    if (e.origin !== origin || !frame || e.source !== frame.contentWindow) return;
    if (e.data?.type === "supportchat:close") setOpen(false);
    if (e.data?.type === "supportchat:unread") {
      const n = Number(e.data.count) || 0;
      badge.textContent = n > 9 ? "9+" : String(n);
      badge.style.display = n > 0 && !isOpen ? "block" : "none";
    }
  });

  const mount = () => document.body.append(button);
  if (document.body) mount();
  else addEventListener("DOMContentLoaded", mount);
})();
