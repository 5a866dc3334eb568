import assert from "node:assert/strict";
import { tokenKeyOf } from "../../src/server/http.ts";

/** The plain 64-bit FNV-1a the limb arithmetic must equal. */
function reference(token: string): string {
  let h = 0xcbf29ce484222325n;
  for (let i = 0; i < token.length; i++) {
    h ^= BigInt(token.charCodeAt(i));
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h.toString(16);
}

Deno.test("tokenKeyOf is 64-bit FNV-1a over UTF-16 code units", () => {
  // Published FNV-1a 64 vectors (one byte per character here).
  assert.equal(tokenKeyOf(""), "cbf29ce484222325");
  assert.equal(tokenKeyOf(undefined), "cbf29ce484222325");
  assert.equal(tokenKeyOf("a"), "af63dc4c8601ec8c");
  assert.equal(tokenKeyOf("foobar"), "85944171f73967e8");
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
  for (let n = 0; n < 500; n++) {
    let s = "";
    const len = next() % 300;
    for (let i = 0; i < len; i++) {
      s += String.fromCharCode(n % 3 === 0 ? next() % 0x10000 : 32 + next() % 95);
    }
    assert.equal(tokenKeyOf(s), reference(s), JSON.stringify(s));
  }
});
