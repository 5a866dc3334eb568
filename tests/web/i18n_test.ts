/**
 * Translations: every catalogue under web/locales/ has the keys, placeholders and plural forms of
 * the English one; every key the pages use exists; the formatting helpers speak each language.
 */
import assert from "node:assert/strict";
import { chooseLanguage, fmtDuration, fmtNumber, t, useCatalogue } from "../../web/i18n.js";
import { localeIndex } from "../../routes/web.ts";

type Catalogue = Record<string, string | Record<string, string>>;

const WEB = new URL("../../web/", import.meta.url);
const LOCALES = new URL("locales/", WEB);

async function catalogues(): Promise<Map<string, Catalogue>> {
  const out = new Map<string, Catalogue>();
  for await (const e of Deno.readDir(LOCALES)) {
    if (!e.name.endsWith(".json")) continue;
    out.set(e.name.slice(0, -5), JSON.parse(await Deno.readTextFile(new URL(e.name, LOCALES))));
  }
  return out;
}

/** Every file of the pages: `.js` and `.html` under web/. */
async function pageSources(dir = WEB): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const e of Deno.readDir(dir)) {
    const url = new URL(e.name + (e.isDirectory ? "/" : ""), dir);
    if (e.isDirectory) { for (const [k, v] of await pageSources(url)) out.set(k, v); }
    else if (/\.(js|html)$/.test(e.name)) out.set(url.pathname, await Deno.readTextFile(url));
  }
  return out;
}

const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
const forms = (v: string | Record<string, string>) =>
  typeof v === "string" ? [v] : Object.values(v);

Deno.test("catalogues: English and Russian at least, each named", async () => {
  const cats = await catalogues();
  assert.ok(cats.has("en") && cats.has("ru"), "web/locales/en.json and ru.json");
  const index = await localeIndex();
  assert.deepEqual(index.map((l) => l.code).sort(), [...cats.keys()].sort());
  assert.deepEqual(index.find((l) => l.code === "ru")?.name, "Русский");
});

Deno.test("catalogues: every language has every English key, its placeholders and its plural forms", async () => {
  const cats = await catalogues();
  const en = cats.get("en")!;
  for (const [code, cat] of cats) {
    const categories = new Intl.PluralRules(code).resolvedOptions().pluralCategories;
    assert.deepEqual(Object.keys(cat).sort(), Object.keys(en).sort(), `${code}: same keys as en`);
    for (const [key, value] of Object.entries(cat)) {
      assert.ok(
        typeof value === "string" || (value && typeof value === "object"),
        `${code} ${key}: a string or plural forms`,
      );
      if (typeof value === "object") {
        for (const c of categories) assert.ok(c in value, `${code} ${key}: plural form "${c}"`);
      }
      const want = new Set(forms(en[key]).flatMap(placeholders));
      for (const f of forms(value)) {
        assert.ok(f.trim() !== "", `${code} ${key}: not empty`);
        for (const p of placeholders(f)) {
          assert.ok(want.has(p), `${code} ${key}: {${p}} unknown in en`);
        }
      }
      const have = new Set(forms(value).flatMap(placeholders));
      for (const p of want) assert.ok(have.has(p), `${code} ${key}: {${p}} missing`);
    }
  }
});

Deno.test("catalogues: every key the pages use exists, and every key is used", async () => {
  const en = (await catalogues()).get("en")!;
  const used = new Set<string>();
  const prefixes = new Set<string>();
  for (const [file, src] of await pageSources()) {
    for (const m of src.matchAll(/\bt\(\s*["']([\w.-]+)["']/g)) used.add(m[1]);
    for (const m of src.matchAll(/data-i18n="([\w.-]+)"/g)) used.add(m[1]);
    for (const m of src.matchAll(/data-i18n-attr="([^"]+)"/g)) {
      for (const pair of m[1].split(";")) {
        const key = pair.split(":")[1]?.trim();
        if (key) used.add(key);
      }
    }
    // Keys made at run time: t(`error.${code}`) names the prefix "error.".
    for (const m of src.matchAll(/\b(?:t|has)\(\s*`([\w.-]+)\$\{/g)) prefixes.add(m[1]);
    for (const key of used) {
      assert.ok(key in en, `${file}: key "${key}" is not in web/locales/en.json`);
    }
  }
  const dead = Object.keys(en).filter((k) =>
    !used.has(k) && ![...prefixes].some((p) => k.startsWith(p)) && k !== "language.name"
  );
  assert.deepEqual(dead, [], "keys no page uses");
});

Deno.test("t: Russian plurals, parameters and the English fallback", () => {
  const en = {
    "chats": { one: "# chat", other: "# chats" },
    "hello": "Hello, {name}",
    "only.en": "Only in English",
  };
  useCatalogue("ru", {
    "chats": { one: "# чат", few: "# чата", many: "# чатов", other: "# чата" },
    "hello": "Здравствуйте, {name}",
  }, en);
  assert.deepEqual([1, 2, 5, 11, 21, 22, 1.5].map((n) => t("chats", { count: n })), [
    "1 чат",
    "2 чата",
    "5 чатов",
    "11 чатов",
    "21 чат",
    "22 чата",
    "1,5 чата",
  ]);
  assert.equal(t("hello", { name: "Анна" }), "Здравствуйте, Анна");
  assert.equal(t("only.en"), "Only in English");
  assert.equal(t("no.such.key"), "no.such.key");
  assert.equal(t("hello"), "Здравствуйте, {name}", "a missing parameter stays visible");
  assert.equal(fmtNumber(1234.5), "1\u00a0234,5");
  assert.equal(fmtDuration(30), "30 с");
  assert.equal(fmtDuration(3 * 60), "3 мин");
  assert.equal(fmtDuration(65 * 60), "1 ч 5 мин");
  useCatalogue("en", en);
  assert.equal(t("chats", { count: 1 }), "1 chat");
  assert.equal(t("chats", { count: 1000 }), "1,000 chats");
  assert.equal(fmtDuration(65 * 60), "1 hr 5 min");
});

Deno.test("chooseLanguage: asked, then stored, then the browser's, else English", () => {
  const available = ["en", "ru"];
  assert.equal(chooseLanguage({ asked: "ru", stored: "en", preferred: ["en"], available }), "ru");
  assert.equal(chooseLanguage({ asked: "de", stored: "ru", preferred: ["en"], available }), "ru");
  assert.equal(chooseLanguage({ preferred: ["de-DE", "ru-RU", "en"], available }), "ru");
  assert.equal(chooseLanguage({ preferred: ["fr"], available }), "en");
});

// ---- The console (web/console.html, web/console/*.js) ----

/** Non-language samples the console's HTML may show as they are. */
const CONSOLE_SAMPLES = new Set(["eyJhbGciOi…"]);

Deno.test("console.html: every visible text and label comes from the catalogues", async () => {
  const html = await Deno.readTextFile(new URL("console.html", WEB));
  // Text of elements translated by data-i18n, code and keyboard samples, scripts and styles go.
  const stripped = html
    .replace(/<(script|style|code|kbd)\b[^>]*>[\s\S]*?<\/\1>/g, "")
    .replace(/<(\w+)(\s[^>]*\bdata-i18n="[\w.-]+"[^>]*)>[^<]*<\/\1>/g, "<$1$2></$1>")
    .replace(/<!--[\s\S]*?-->/g, "");
  const text = stripped.replace(/<[^>]*>/g, " ").replace(/&[a-z]+;/g, " ");
  const words = text.match(/[\p{L}]{2,}[^<]*/gu) ?? [];
  assert.deepEqual(words.map((w) => w.trim()), [], "text outside data-i18n elements");
  // Labels people read (aria-label, title, placeholder) are set by data-i18n-attr.
  for (const m of stripped.matchAll(/<\w+\s[^>]*>/g)) {
    const tag = m[0];
    const translated = /data-i18n-attr="([^"]*)"/.exec(tag)?.[1] ?? "";
    for (const a of tag.matchAll(/\s(aria-label|title|placeholder)="([^"]*)"/g)) {
      if (CONSOLE_SAMPLES.has(a[2]) || !/\p{L}{2}/u.test(a[2])) continue;
      assert.ok(translated.includes(`${a[1]}:`), `${a[1]}="${a[2]}" without data-i18n-attr`);
    }
  }
});

Deno.test("console scripts: no English literal as a text, label, title or placeholder", async () => {
  const offenders: string[] = [];
  for await (const e of Deno.readDir(new URL("console/", WEB))) {
    if (!e.name.endsWith(".js")) continue;
    const src = await Deno.readTextFile(new URL(`console/${e.name}`, WEB));
    const literal = String.raw`("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|` +
      "`(?:[^`\\\\]|\\\\.)*`)";
    const patterns = [
      new RegExp(String.raw`\b(?:text|title|placeholder|"aria-label")\s*:\s*` + literal, "g"),
      new RegExp(String.raw`\.(?:textContent|title|placeholder)\s*=\s*` + literal, "g"),
      new RegExp(
        String.raw`setAttribute\(\s*"(?:aria-label|title|placeholder)"\s*,\s*` + literal,
        "g",
      ),
    ];
    for (const re of patterns) {
      for (const m of src.matchAll(re)) {
        // What is left of the literal outside ${…}: a word of two letters is language.
        const bare = m[1].slice(1, -1).replace(/\$\{[^}]*\}/g, "");
        if (/[A-Za-z]{2}/.test(bare) && !/^https?:\/\/$/.test(bare)) {
          offenders.push(`${e.name}: ${m[0]}`);
        }
      }
    }
  }
  assert.deepEqual(offenders, [], "English literals in the console's scripts");
});

// ---- The widget (web/index.html, its scripts and the embed) ----

/** The widget's scripts: what the customer reads comes from them. */
const WIDGET_SCRIPTS = [
  "widget.js",
  "widget_view.js",
  "widget_conv.js",
  "widget_alerts.js",
  "widget_api.js",
  "widget_dom.js",
  "embed.js",
  "bot_view.js",
  "attachments.js",
  "errors.js",
];

Deno.test("index.html: no visible text outside data-i18n elements (but <code>), labels by data-i18n-attr", async () => {
  const html = await Deno.readTextFile(new URL("index.html", WEB));
  const stripped = html
    .replace(/<(script|style|code)\b[^>]*>[\s\S]*?<\/\1>/g, "")
    .replace(/<(\w+)(\s[^>]*\bdata-i18n="[\w.-]+"[^>]*)>[^<]*<\/\1>/g, "<$1$2></$1>")
    .replace(/<!--[\s\S]*?-->/g, "");
  const words = stripped.replace(/<[^>]*>/g, " ").replace(/&[a-z]+;/g, " ")
    .match(/\p{L}{2,}[^<]*/gu) ?? [];
  assert.deepEqual(words.map((w) => w.trim()), [], "text outside data-i18n elements");
  for (const m of stripped.matchAll(/<\w+\s[^>]*>/g)) {
    const translated = /data-i18n-attr="([^"]*)"/.exec(m[0])?.[1] ?? "";
    for (const a of m[0].matchAll(/\s(aria-label|title|placeholder|alt)="([^"]*)"/g)) {
      if (!/\p{L}{2}/u.test(a[2])) continue;
      assert.ok(translated.includes(`${a[1]}:`), `${a[1]}="${a[2]}" without data-i18n-attr`);
    }
  }
});

Deno.test("widget scripts: no English literal as a text, label, title or placeholder", async () => {
  const literal = String.raw`("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|` + "`(?:[^`\\\\]|\\\\.)*`)";
  const patterns = [
    new RegExp(
      String.raw`(?:\btext|\btitle|\bbody|\bplaceholder|\balt|"aria-label")\s*:\s*` + literal,
      "g",
    ),
    new RegExp(String.raw`\.(?:textContent|title|placeholder|alt)\s*=\s*` + literal, "g"),
    new RegExp(
      String.raw`setAttribute\(\s*"(?:aria-label|title|placeholder|alt)"\s*,\s*` + literal,
      "g",
    ),
    new RegExp(String.raw`new Notification\(\s*` + literal, "g"),
  ];
  const offenders: string[] = [];
  for (const name of WIDGET_SCRIPTS) {
    const src = await Deno.readTextFile(new URL(name, WEB));
    for (const re of patterns) {
      for (const m of src.matchAll(re)) {
        // What is left of the literal outside ${…}: a word of two letters is language.
        const bare = m[1].slice(1, -1).replace(/\$\{[^}]*\}/g, "");
        if (/[A-Za-z]{2}/.test(bare)) offenders.push(`${name}: ${m[0]}`);
      }
    }
  }
  assert.deepEqual(offenders, [], "English literals in the widget's scripts");
});
