/**
 * src/util/crypto.ts on its own: HMAC SHA-256 against RFC 4231, SHA-256 against FIPS 180-2,
 * hex, canonical base64url, the key cache, the constant-time comparison; and the names
 * `src/auth/jwt.ts` still exports are the same functions.
 */
import assert from "node:assert/strict";
import * as jwt from "../../src/auth/jwt.ts";
import {
  base64urlDecode,
  base64urlEncode,
  hmacKey,
  hmacSha256,
  importHmacKey,
  sha256Hex,
  timingSafeEqual,
  toHex,
  verifyHmacSha256,
} from "../../src/util/crypto.ts";

const enc = new TextEncoder();

Deno.test("hmacSha256 matches RFC 4231 (cases 1, 2 and 6) for text, byte and CryptoKey keys", async () => {
  const case1 = "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7";
  assert.equal(toHex(await hmacSha256(new Uint8Array(20).fill(0x0b), "Hi There")), case1);
  const case2 = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
  const data = "what do ya want for nothing?";
  assert.equal(toHex(await hmacSha256("Jefe", data)), case2);
  assert.equal(toHex(await hmacSha256(await importHmacKey("Jefe"), enc.encode(data))), case2);
  assert.equal(toHex(await hmacSha256(await hmacKey("Jefe"), data)), case2);
  // Case 6: a key longer than the block size is hashed first.
  const case6 = "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54";
  const long = new Uint8Array(131).fill(0xaa);
  const text = "Test Using Larger Than Block-Size Key - Hash Key First";
  assert.equal(toHex(await hmacSha256(long, text)), case6);
});

Deno.test("verifyHmacSha256 accepts the MAC and nothing else", async () => {
  const mac = await hmacSha256("secret", "body");
  assert.equal(await verifyHmacSha256("secret", "body", mac), true);
  assert.equal(await verifyHmacSha256("secret", "bodY", mac), false);
  assert.equal(await verifyHmacSha256("Secret", "body", mac), false);
  const flipped = mac.slice();
  flipped[31] ^= 1;
  assert.equal(await verifyHmacSha256("secret", "body", flipped), false);
  assert.equal(await verifyHmacSha256("secret", "body", mac.subarray(0, 16)), false);
});

Deno.test("hmacKey imports a text secret once; other keys are not cached", () => {
  assert.equal(hmacKey("one secret"), hmacKey("one secret"));
  assert.notEqual(hmacKey("one secret"), hmacKey("another"));
  assert.notEqual(importHmacKey("one secret"), importHmacKey("one secret"));
});

Deno.test("sha256Hex and toHex: FIPS 180-2 vectors, lower-case, two digits a byte", async () => {
  assert.equal(
    await sha256Hex("abc"),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
  assert.equal(
    await sha256Hex(new Uint8Array()),
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  );
  assert.equal(toHex(new Uint8Array([0, 1, 0xab, 0xff])), "0001abff");
  assert.equal(toHex(new Uint8Array()), "");
});

Deno.test("base64url round-trips every length and decodes only the canonical spelling", () => {
  for (let n = 0; n < 40; n++) {
    const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 0xff);
    const text = base64urlEncode(bytes);
    assert.match(text, /^[A-Za-z0-9_-]*$/);
    assert.deepEqual(base64urlDecode(text), bytes);
  }
  assert.equal(base64urlEncode(new Uint8Array([0xfb, 0xff])), "-_8");
  assert.deepEqual(base64urlDecode("-_8"), new Uint8Array([0xfb, 0xff]));
  assert.equal(base64urlDecode("-_9"), undefined, "non-zero unused bits");
  assert.equal(base64urlDecode("+/8"), undefined, "the standard alphabet");
  assert.equal(base64urlDecode("-_8="), undefined, "padding");
  assert.equal(base64urlDecode("abcde"), undefined, "a length no encoding has");
  assert.equal(base64urlDecode("ab cd"), undefined);
  assert.deepEqual(base64urlDecode(""), new Uint8Array());
});

Deno.test("timingSafeEqual compares whole strings", () => {
  assert.equal(timingSafeEqual("sha256=abc", "sha256=abc"), true);
  assert.equal(timingSafeEqual("sha256=abc", "sha256=abd"), false);
  assert.equal(timingSafeEqual("sha256=abc", "sha256=ab"), false);
  assert.equal(timingSafeEqual("", ""), true);
});

Deno.test("src/auth/jwt.ts re-exports the same helpers under its old names", () => {
  assert.equal(jwt.base64urlEncode, base64urlEncode);
  assert.equal(jwt.base64urlDecode, base64urlDecode);
  assert.equal(jwt.hmacKey, hmacKey);
});
