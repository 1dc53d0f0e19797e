import { describe, expect, it } from "vitest";
import { countsFromString, countsToString, decode, encode, runs } from "../src/rle";

describe("COCO RLE", () => {
  it("counts runs column by column, starting with zeros", () => {
    // 2 rows x 3 columns, row-major:  0 1 1 / 0 1 0
    const mask = [0, 1, 1, 0, 1, 0];
    // column-major order: 0 0 | 1 1 | 1 0  -> runs 2 zeros, 3 ones, 1 zero
    expect(runs(mask, 2, 3)).toEqual([2, 3, 1]);
    expect(runs([1, 0, 1, 0], 2, 2)).toEqual([0, 2, 2]); // left column full: 0 zeros, 2 ones, 2 zeros
    expect(runs([1, 1, 0, 0], 2, 2)).toEqual([0, 1, 1, 1, 1]); // top row: alternates down the columns
  });

  it("writes pycocotools' strings", () => {
    // pycocotools.mask.encode of a 4x4 mask with the 2x2 block at rows 1-2, columns 1-2 gives b"52203"
    const mask = new Uint8Array(16);
    for (const [y, x] of [[1, 1], [1, 2], [2, 1], [2, 2]]) mask[y * 4 + x] = 1;
    expect(encode(mask, 4, 4)).toEqual({ size: [4, 4], counts: "52203" });
  });

  it("round-trips large and negative differences bit-exactly", () => {
    const counts = [0, 65536, 3, 1, 40000, 2, 7];
    expect(countsFromString(countsToString(counts))).toEqual(counts);
    const n = 256;
    const mask = new Uint8Array(n * n);
    let seed = 7;
    for (let i = 0; i < mask.length; i++) {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      mask[i] = seed % 7 < 3 ? 1 : 0;
    }
    expect(decode(encode(mask, n, n))).toEqual(mask);
    expect(decode({ size: [n, n], counts: runs(mask, n, n) })).toEqual(mask);
  });

  it("refuses counts that do not cover the mask", () => {
    expect(() => decode({ size: [4, 4], counts: [3, 2] })).toThrow(/covers 5 pixels, not 4x4/);
    expect(() => runs([0, 1], 2, 2)).toThrow(/2 pixels, not 2x2/);
  });
});
