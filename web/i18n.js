// @ts-check
/**
 * Translations and locale formatting for both pages: message catalogues in `web/locales/<lang>.json`
 * (adding a language is adding that one file; `/static/locales/index.json` lists what is there),
 * the language from `?lang=`, the user's stored choice, then the browser's languages, else English.
 *
 * Written here rather than taken from i18next or FormatJS: the pages are plain ES modules with no
 * build step and a CSP of `script-src 'self'`, and what those libraries add over the platform is
 * ICU parsing we do not need. Plurals come from `Intl.PluralRules` (Russian one/few/many/other),
 * dates, times, numbers, units and relative times from `Intl`, so the browser's CLDR data does the
 * locale work — the part worth a library.
 *
 * A catalogue is a flat object: `"widget.start.title": "Hi there!"`. A value may be a plural
 * object keyed by `Intl.PluralRules` category (`{"one": "# chat", "few": "# чата", …}`; `#` is the
 * formatted count). `{name}` in a value is replaced by the parameter of that name. A key missing
 * from a catalogue falls back to English; missing from English, the key itself is shown (and
 * tests/web/i18n_test.ts fails the suite first).
 */

/** @typedef {string | Record<string, string>} Entry */
/** @typedef {{ getItem(k: string): string | null, setItem(k: string, v: string): void }} Storage */
/** @typedef {Record<string, Entry>} Catalogue */

const STORE_KEY = "supportchat.lang";
/**
 * The page's document, if any. Typed loosely: this module is also imported by the Deno tests,
 * whose type check has no DOM library.
 * @returns {any}
 */
const page = () => /** @type {any} */ (globalThis).document;
export const FALLBACK = "en";

/** The language in use and its catalogues. */
const state = {
  lang: FALLBACK,
  /** @type {Catalogue} */
  messages: {},
  /** @type {Catalogue} */
  fallback: {},
};

/** Listeners told after `setLanguage` swapped the catalogue (pages re-render). */
const listeners = new Set();

/** The language in use ("en", "ru", …). */
export function lang() {
  return state.lang;
}

/**
 * Installs catalogues directly (tests; and `loadI18n` once fetched).
 * @param {string} code
 * @param {Catalogue} messages
 * @param {Catalogue} [fallback]
 */
export function useCatalogue(code, messages, fallback = messages) {
  state.lang = code;
  state.messages = messages;
  state.fallback = fallback;
  plurals.clear();
  formats.clear();
  if (page()) page().documentElement.lang = code;
}

/** Primary subtag, lower case: "ru-RU" → "ru". */
function primary(/** @type {string} */ tag) {
  return tag.toLowerCase().split(/[-_]/)[0];
}

/**
 * The language to use, from what is asked (`?lang=`), stored, and preferred by the browser,
 * among those available.
 * @param {{ asked?: string | null, stored?: string | null, preferred?: readonly string[], available: readonly string[] }} o
 */
export function chooseLanguage(o) {
  const have = new Set(o.available.map(primary));
  for (const c of [o.asked, o.stored, ...(o.preferred ?? [])]) {
    if (c && have.has(primary(c))) return primary(c);
  }
  return FALLBACK;
}

/**
 * Fetches `/static/locales/<lang>.json`; resolves with `{}` when it cannot (the page still works,
 * in English or with keys shown).
 * @param {string} code
 * @returns {Promise<Catalogue>}
 */
async function fetchCatalogue(code) {
  try {
    const res = await fetch(`/static/locales/${encodeURIComponent(code)}.json`);
    return res.ok ? /** @type {Catalogue} */ (await res.json()) : {};
  } catch {
    return {};
  }
}

/** The languages available: `[{ code, name }]` (from `/static/locales/index.json`). */
export async function languages() {
  try {
    const res = await fetch("/static/locales/index.json");
    if (res.ok) return /** @type {Array<{ code: string, name: string }>} */ (await res.json());
  } catch { /* offline: only what is loaded */ }
  return [{ code: state.lang, name: t("language.name") }];
}

/**
 * Chooses and loads the language for this page. Call (and await) before the first render.
 * @param {{ storage?: Storage, asked?: string | null }} [o]
 */
export async function loadI18n(o = {}) {
  const available = (await languages()).map((l) => l.code);
  let stored = null;
  try {
    stored = o.storage?.getItem(STORE_KEY) ?? null;
  } catch { /* storage denied */ }
  const asked = o.asked ?? new URLSearchParams(location.search).get("lang");
  const code = chooseLanguage({ asked, stored, preferred: navigator.languages, available });
  const [messages, fallback] = await Promise.all([
    fetchCatalogue(code),
    code === FALLBACK ? Promise.resolve(null) : fetchCatalogue(FALLBACK),
  ]);
  useCatalogue(code, messages, fallback ?? messages);
}

/**
 * Switches language: stores the choice, loads the catalogue, relabels `document` and tells the
 * listeners (which re-render what they drew).
 * @param {string} code
 * @param {Storage} [storage]
 */
export async function setLanguage(code, storage) {
  try {
    storage?.setItem(STORE_KEY, code);
  } catch { /* storage denied: this page only */ }
  const messages = await fetchCatalogue(code);
  useCatalogue(code, messages, code === FALLBACK ? messages : state.fallback);
  if (page()) localize(page());
  for (const fn of listeners) fn(code);
}

/** Calls `fn` after every language switch; returns the unsubscribe. */
export function onLanguageChange(/** @type {(code: string) => void} */ fn) {
  listeners.add(fn);
  return () => void listeners.delete(fn);
}

/** @type {Map<string, Intl.PluralRules>} */
const plurals = new Map();
/** @type {Map<string, Intl.NumberFormat | Intl.DateTimeFormat | Intl.RelativeTimeFormat>} */
const formats = new Map();

function pluralRules() {
  let r = plurals.get(state.lang);
  if (!r) plurals.set(state.lang, r = new Intl.PluralRules(state.lang));
  return r;
}

/**
 * A cached formatter (they are costly to build and every list row formats).
 * @template T
 * @param {string} key
 * @param {() => T} make
 * @returns {T}
 */
function cached(key, make) {
  let f = formats.get(key);
  if (!f) formats.set(key, f = /** @type {any} */ (make()));
  return /** @type {T} */ (/** @type {unknown} */ (f));
}

/**
 * The text for `key`, with `{name}` parameters filled in; a plural entry picks its form by
 * `params.count`.
 * @param {string} key
 * @param {Record<string, string | number | null | undefined>} [params]
 * @returns {string}
 */
export function t(key, params = {}) {
  const entry = state.messages[key] ?? state.fallback[key];
  if (entry === undefined) return key;
  let text;
  if (typeof entry === "string") {
    text = entry;
  } else {
    const n = Number(params.count ?? 0);
    const cat = pluralRules().select(n);
    text = (entry[cat] ?? entry.other ?? "").replaceAll("#", fmtNumber(n));
  }
  return text.replace(/\{(\w+)\}/g, (m, name) => {
    const v = params[name];
    if (v === undefined || v === null) return m;
    return typeof v === "number" ? fmtNumber(v) : String(v);
  });
}

/** Whether the catalogues hold `key` (for optional texts such as server error codes). */
export function has(/** @type {string} */ key) {
  return key in state.messages || key in state.fallback;
}

/**
 * Applies `data-i18n` (text), `data-i18n-attr` (`"placeholder:key; aria-label:key2"`) under
 * `root`: the static parts of a page's HTML.
 * @param {any} root a document or element
 */
export function localize(root) {
  for (const el of root.querySelectorAll("[data-i18n]")) {
    el.textContent = t(el.getAttribute("data-i18n"));
  }
  for (const el of root.querySelectorAll("[data-i18n-attr]")) {
    for (const pair of (el.getAttribute("data-i18n-attr") ?? "").split(";")) {
      const [attr, key] = pair.split(":").map((/** @type {string} */ s) => s.trim());
      if (attr && key) el.setAttribute(attr, t(key));
    }
  }
}

/** A number for this language ("1 234,5" in Russian). */
export function fmtNumber(/** @type {number} */ n, /** @type {Intl.NumberFormatOptions} */ o = {}) {
  const key = `n:${state.lang}:${JSON.stringify(o)}`;
  return cached(key, () => new Intl.NumberFormat(state.lang, o)).format(n);
}

/** A share as a percentage: 0.25 → "25 %" / "25%". */
export function fmtPercent(/** @type {number} */ share) {
  return fmtNumber(share, { style: "percent", maximumFractionDigits: 0 });
}

/** @param {string | number | Date | undefined | null} at */
function toDate(at) {
  if (at === undefined || at === null) return null;
  const d = at instanceof Date ? at : new Date(at);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** "14:05" for this language. */
export function fmtTime(/** @type {string | number | Date | undefined | null} */ at) {
  const d = toDate(at);
  if (!d) return "";
  return cached(
    `t:${state.lang}`,
    () => new Intl.DateTimeFormat(state.lang, { hour: "2-digit", minute: "2-digit" }),
  ).format(d);
}

/** "7 Dec 2026" / "7 дек. 2026 г." */
export function fmtDate(/** @type {string | number | Date | undefined | null} */ at) {
  const d = toDate(at);
  if (!d) return "";
  return cached(
    `d:${state.lang}`,
    () => new Intl.DateTimeFormat(state.lang, { dateStyle: "medium" }),
  )
    .format(d);
}

/** Date and time: "7 Dec 2026, 14:05". */
export function fmtDateTime(/** @type {string | number | Date | undefined | null} */ at) {
  const d = toDate(at);
  if (!d) return "";
  return cached(
    `dt:${state.lang}`,
    () => new Intl.DateTimeFormat(state.lang, { dateStyle: "medium", timeStyle: "short" }),
  ).format(d);
}

/** A time today as "14:05", earlier as its date and time. */
export function fmtWhen(
  /** @type {string | number | Date | undefined | null} */ at,
  /** @type {number} */ now = Date.now(),
) {
  const d = toDate(at);
  if (!d) return "";
  return new Date(now).toDateString() === d.toDateString() ? fmtTime(d) : fmtDateTime(d);
}

/** @param {"second" | "minute" | "hour" | "day"} unit */
function unit(/** @type {number} */ n, unit) {
  return fmtNumber(n, { style: "unit", unit, unitDisplay: "short" });
}

/** A short duration: "12 s" / "12 с", "3 min" / "3 мин", "1 h 05 min" / "1 ч 05 мин". */
export function fmtDuration(/** @type {number} */ seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return unit(s, "second");
  const m = Math.round(s / 60);
  if (m < 60) return unit(m, "minute");
  const hours = Math.floor(m / 60);
  if (hours < 48) return `${unit(hours, "hour")} ${unit(m % 60, "minute")}`;
  return unit(Math.round(hours / 24), "day");
}

/** "3 minutes ago" / "3 минуты назад"; "in 2 hours". */
export function fmtRelative(
  /** @type {string | number | Date} */ at,
  /** @type {number} */ now = Date.now(),
) {
  const d = toDate(at);
  if (!d) return "";
  const s = Math.round((d.getTime() - now) / 1000);
  const rtf = cached(
    `r:${state.lang}`,
    () => new Intl.RelativeTimeFormat(state.lang, { numeric: "auto" }),
  );
  const a = Math.abs(s);
  if (a < 45) return rtf.format(0, "second");
  if (a < 2700) return rtf.format(Math.round(s / 60), "minute");
  if (a < 79200) return rtf.format(Math.round(s / 3600), "hour");
  return rtf.format(Math.round(s / 86400), "day");
}
