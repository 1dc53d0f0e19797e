// COCO run-length encoding, as pycocotools writes it: runs over the mask in column-major order, starting
// with a run of zeros; "compressed" counts are pycocotools' 6-bit string of the run differences.

export interface RLE {
  size: [number, number]; // [height, width]
  counts: string | number[];
}

/** Runs of a row-major mask (height x width, non-zero = inside), read column by column. */
export function runs(mask: ArrayLike<number>, height: number, width: number): number[] {
  if (mask.length !== height * width) throw new Error(`mask has ${mask.length} pixels, not ${height}x${width}`);
  const counts: number[] = [];
  let current = 0;
  let run = 0;
  for (let x = 0; x < width; x++) {
    for (let y = 0; y < height; y++) {
      const v = mask[y * width + x] ? 1 : 0;
      if (v !== current) {
        counts.push(run);
        run = 0;
        current = v;
      }
      run++;
    }
  }
  counts.push(run);
  return counts;
}

/** pycocotools' rleToString. */
export function countsToString(counts: number[]): string {
  let out = "";
  for (let i = 0; i < counts.length; i++) {
    let x = counts[i];
    if (i > 2) x -= counts[i - 2];
    let more = true;
    while (more) {
      let c = x & 0x1f;
      x >>= 5;
      more = c & 0x10 ? x !== -1 : x !== 0;
      if (more) c |= 0x20;
      out += String.fromCharCode(c + 48);
    }
  }
  return out;
}

/** pycocotools' rleFrString. */
export function countsFromString(s: string): number[] {
  const counts: number[] = [];
  let p = 0;
  while (p < s.length) {
    let x = 0;
    let k = 0;
    let more = true;
    while (more) {
      if (p >= s.length) throw new Error("RLE string ends inside a number");
      const c = s.charCodeAt(p) - 48;
      x |= (c & 0x1f) << (5 * k);
      more = (c & 0x20) !== 0;
      p++;
      k++;
      if (!more && c & 0x10) x |= -1 << (5 * k);
    }
    if (counts.length > 2) x += counts[counts.length - 2];
    counts.push(x);
  }
  return counts;
}

export function encode(mask: ArrayLike<number>, height: number, width: number): RLE {
  return { size: [height, width], counts: countsToString(runs(mask, height, width)) };
}

/** A row-major 0/1 mask from an RLE with string or list counts. */
export function decode(rle: RLE): Uint8Array {
  const [height, width] = rle.size;
  const counts = typeof rle.counts === "string" ? countsFromString(rle.counts) : rle.counts;
  const total = counts.reduce((a, b) => a + b, 0);
  if (total !== height * width) throw new Error(`RLE covers ${total} pixels, not ${height}x${width}`);
  const mask = new Uint8Array(height * width);
  let i = 0;
  let v = 0;
  for (const run of counts) {
    if (v) {
      for (let k = i; k < i + run; k++) {
        const x = Math.floor(k / height);
        const y = k - x * height;
        mask[y * width + x] = 1;
      }
    }
    i += run;
    v ^= 1;
  }
  return mask;
}
