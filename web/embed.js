// @ts-check
/**
 * Support chat for any page: `<script src="https://chat.example.com/embed.js" async></script>`
 * adds a floating chat button that opens the widget (`/?embed=1` on the chat server) in an iframe.
 * The iframe loads at once, hidden: the widget keeps its chat in its own storage and reconnects,
 * so the button shows the unread count even before it is first opened, and the widget names the
 * button and the frame in the reader's language (the button appears once it has). Styles are set
 * through the CSSOM (no inline style attributes), which page CSPs allow.
 *
 * A site that knows its user vouches for them (identity verification, docs/SECURITY.md) by
 * setting, before this script, `window.supportChatSettings = { user_id, user_hash }` (or
 * `{ identity_token }`), optionally with `name`, `email`, `attributes` and `locale` ("ru", "en":
 * the widget's language until the reader picks another); the widget sends them with the chat it
 * starts, so the same person's chats follow them across devices.
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

  /** What the page says about its user (see the header); only plain data is passed on. */
  const raw = /** @type {any} */ (globalThis).supportChatSettings;
  const settings = (() => {
    if (!raw || typeof raw !== "object") return null;
    /** @type {Record<string, unknown>} */
    const out = {};
    for (const k of ["user_id", "user_hash", "identity_token", "name", "email"]) {
      if (typeof raw[k] === "string") out[k] = raw[k];
    }
    if (raw.attributes && typeof raw.attributes === "object") {
      out.attributes = { ...raw.attributes };
    }
    return Object.keys(out).length ? out : null;
  })();
  const locale = typeof raw?.locale === "string" && /^[A-Za-z-]{2,12}$/.test(raw.locale)
    ? raw.locale
    : null;

  const blue = "#2563eb";
  const button = document.createElement("button");
  button.id = "supportchat-button";
  button.type = "button";
  button.setAttribute("aria-expanded", "false");
  button.setAttribute("aria-controls", "supportchat-frame");
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

  // A focus ring through the CSSOM (a page's CSP may refuse a style sheet), shown unless the
  // focus came from a pointer, as :focus-visible would.
  let pointer = false;
  button.addEventListener("pointerdown", () => (pointer = true));
  button.addEventListener("focus", () => {
    if (!pointer) {
      Object.assign(button.style, { outline: "3px solid #1e3a8a", outlineOffset: "3px" });
    }
    pointer = false;
  });
  button.addEventListener("blur", () => (button.style.outline = "none"));

  const badge = document.createElement("span");
  badge.setAttribute("aria-hidden", "true"); // the button's label says the count
  badge.id = "supportchat-unread";
  Object.assign(badge.style, {
    position: "absolute",
    top: "-2px",
    right: "-2px",
    minWidth: "20px",
    height: "20px",
    padding: "0 5px",
    borderRadius: "10px",
    background: "#b91c1c",
    color: "#fff",
    font: "600 12px/20px system-ui, sans-serif",
    display: "none",
  });
  button.append(badge);

  let isOpen = false;
  let unread = 0;
  /** The widget's texts for the button and the frame (from its catalogue). */
  const labels = { open: "", close: "", frame: "", unread: "" };

  const frame = document.createElement("iframe");
  frame.src = `${origin}/?embed=1${locale ? `&lang=${encodeURIComponent(locale)}` : ""}`;
  frame.id = "supportchat-frame";
  Object.assign(frame.style, {
    position: "fixed",
    border: "none",
    background: "#fff",
    boxShadow: "0 12px 40px rgba(15, 23, 42, .3)",
    zIndex: "2147483001",
    display: "none",
  });
  let loaded = false;
  const tell = () =>
    loaded && frame.contentWindow?.postMessage({ open: isOpen, identity: settings }, origin);
  frame.addEventListener("load", () => {
    loaded = true;
    tell();
  });

  function place() {
    const small = innerWidth < 480;
    Object.assign(
      frame.style,
      small ? { right: "0", bottom: "0", width: "100vw", height: "100dvh", borderRadius: "0" } : {
        right: "20px",
        bottom: "88px",
        width: "380px",
        height: "min(620px, calc(100vh - 110px))",
        borderRadius: "14px",
      },
    );
  }

  function label() {
    button.setAttribute(
      "aria-label",
      isOpen ? labels.close : unread > 0 ? labels.unread : labels.open,
    );
    if (labels.frame) frame.title = labels.frame;
  }

  function setOpen(/** @type {boolean} */ open) {
    isOpen = open;
    place();
    frame.style.display = open ? "block" : "none";
    tell();
    setIcon(icon, open ? CLOSE_ICON : CHAT_ICON);
    badge.style.display = unread > 0 && !open ? "block" : "none";
    button.setAttribute("aria-expanded", String(open));
    label();
    if (open) frame.focus();
  }

  button.addEventListener("click", () => setOpen(!isOpen));
  addEventListener("resize", place);
  addEventListener("message", (e) => {
    if (e.origin !== origin || e.source !== frame.contentWindow) return;
    const d = e.data;
    if (d?.type === "supportchat:ready" && d.labels && typeof d.labels === "object") {
      for (const k of /** @type {const} */ (["open", "close", "frame"])) {
        if (typeof d.labels[k] === "string") labels[k] = d.labels[k];
      }
      label();
      if (!button.isConnected) document.body.append(button);
    }
    if (d?.type === "supportchat:close" && isOpen) {
      setOpen(false);
      button.focus(); // Esc or the widget's close button: back where the reader came from
    }
    if (d?.type === "supportchat:unread") {
      unread = Number(d.count) || 0;
      if (typeof d.label === "string") labels.unread = d.label;
      badge.textContent = unread > 9 ? "9+" : String(unread);
      badge.style.display = unread > 0 && !isOpen ? "block" : "none";
      label();
    }
  });

  const mount = () => {
    place();
    document.body.append(frame);
  };
  if (document.body) mount();
  else addEventListener("DOMContentLoaded", mount);
})();
