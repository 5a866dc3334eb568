import assert from "node:assert/strict";
import { murmur2, partitionFor, toPositive } from "../../src/cluster/murmur2.ts";

const utf8 = (s: string) => new TextEncoder().encode(s);

// Kafka's UtilsTest.testMurmur2 (Java client). Re-checked against the Java `Utils.murmur2` compiled
// verbatim and against kafkajs 2.2.4's Java-compatible default partitioner murmur2.
const JAVA_VECTORS: [string, number][] = [
  ["21", -973932308],
  ["foobar", -790332482],
  ["a-little-bit-long-string", -985981536],
  ["a-little-bit-longer-string", -1486304829],
  ["lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971],
  ["abc", 479470107],
];

// Computed with the same Java method (UTF-8 bytes, `toPositive(h) % n`): every tail length
// (0 to 3 bytes past a 4-byte block), the empty key, and multi-byte UTF-8 keys.
// [key, murmur2, partition of 12, partition of 3, partition of 4]
const MORE_VECTORS: [string, number, number, number, number][] = [
  ["", 275646681, 9, 0, 1],
  ["a", -1563381124, 4, 1, 0],
  ["ab", 316155434, 2, 2, 2],
  ["abcd", -1323649548, 8, 2, 0],
  ["chat-42", 371148591, 3, 0, 3],
  ["queue:default", 1429510085, 5, 2, 1],
  ["é", 186971271, 3, 0, 3],
  ["日本語", 1431860170, 10, 1, 2],
  ["🙂", 925250799, 3, 0, 3],
  ["operator:ñ", 979104944, 8, 2, 0],
];

Deno.test("murmur2 matches the Java client's UtilsTest vectors", () => {
  for (const [key, expected] of JAVA_VECTORS) assert.equal(murmur2(utf8(key)), expected, key);
  assert.equal(murmur2(new Uint8Array([0x61, 0x62, 0x63])), 479470107);
});

Deno.test("murmur2 matches Java for the empty key, every tail length and UTF-8 keys", () => {
  for (const [key, expected] of MORE_VECTORS) assert.equal(murmur2(utf8(key)), expected, key);
});

Deno.test("murmur2 treats bytes as unsigned, as Java's `& 0xff`", () => {
  // Java: murmur2(new byte[]{(byte) 0xff, (byte) 0x80, 0x7f, (byte) 0xfe, (byte) 0xc3})
  assert.equal(murmur2(new Uint8Array([0xff, 0x80, 0x7f, 0xfe, 0xc3])), 1392598605);
});

Deno.test("murmur2 returns a signed 32-bit integer", () => {
  for (const [key] of [...JAVA_VECTORS, ...MORE_VECTORS]) {
    const h = murmur2(utf8(key));
    assert.ok(Number.isInteger(h) && h >= -(2 ** 31) && h < 2 ** 31, key);
  }
});

Deno.test("toPositive clears the sign bit like Java's Utils.toPositive", () => {
  assert.equal(toPositive(-973932308), 1173551340);
  assert.equal(toPositive(-1), 0x7fffffff);
  assert.equal(toPositive(-(2 ** 31)), 0);
  assert.equal(toPositive(0), 0);
  assert.equal(toPositive(479470107), 479470107);
});

Deno.test("partitionFor is Kafka's default partitioner for keyed records", () => {
  const java: [string, number, number, number][] = [
    ["21", 0, 0, 0],
    ["foobar", 6, 0, 2],
    ["a-little-bit-long-string", 8, 2, 0],
    ["a-little-bit-longer-string", 11, 2, 3],
    ["lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", 5, 2, 1],
    ["abc", 3, 0, 3],
  ];
  for (const [key, , p12, p3, p4] of MORE_VECTORS) java.push([key, p12, p3, p4]);
  for (const [key, p12, p3, p4] of java) {
    assert.equal(partitionFor(key, 12), p12, `${key} of 12`);
    assert.equal(partitionFor(key, 3), p3, `${key} of 3`);
    assert.equal(partitionFor(key, 4), p4, `${key} of 4`);
    assert.equal(partitionFor(key, 1), 0);
  }
});

Deno.test("partitionFor spreads keys over every partition and refuses a bad count", () => {
  const seen = new Set(Array.from({ length: 200 }, (_, i) => partitionFor(`chat-${i}`, 12)));
  assert.equal(seen.size, 12);
  assert.throws(() => partitionFor("k", 0), RangeError);
  assert.throws(() => partitionFor("k", 1.5), RangeError);
});
