// The stage-1 part labels of one person: a BOX_SCALE x BOX_SCALE map in the box frame, one label per pixel
// (0 = none, 1..14 = mask part), so painting a part over another replaces it. A pixel belongs to a shape
// when its centre (i + 0.5, j + 0.5) does.

import { encode, decode, type RLE } from "./rle";
import { BOX_SCALE, type Point } from "./geometry";

export type DpMask = RLE | [];

export class LabelMap {
  readonly size = BOX_SCALE;
  data: Uint8Array;

  constructor(data?: Uint8Array) {
    this.data = data ? new Uint8Array(data) : new Uint8Array(BOX_SCALE * BOX_SCALE);
  }

  snapshot(): Uint8Array {
    return new Uint8Array(this.data);
  }

  restore(data: Uint8Array): void {
    this.data.set(data);
  }

  get(x: number, y: number): number {
    return this.data[y * this.size + x];
  }

  /** An ellipse of radii (rx, ry) box units around ``c`` (the brush is round in the image, and the box frame
   * stretches the image differently along x and y). Returns whether anything changed. */
  paintEllipse(c: Point, rx: number, ry: number, label: number): boolean {
    const n = this.size;
    let changed = false;
    const y0 = Math.max(0, Math.floor(c.y - ry - 0.5));
    const y1 = Math.min(n - 1, Math.ceil(c.y + ry - 0.5));
    const x0 = Math.max(0, Math.floor(c.x - rx - 0.5));
    const x1 = Math.min(n - 1, Math.ceil(c.x + rx - 0.5));
    for (let j = y0; j <= y1; j++) {
      const dy = (j + 0.5 - c.y) / ry;
      for (let i = x0; i <= x1; i++) {
        const dx = (i + 0.5 - c.x) / rx;
        if (dx * dx + dy * dy <= 1) {
          const k = j * n + i;
          if (this.data[k] !== label) {
            this.data[k] = label;
            changed = true;
          }
        }
      }
    }
    return changed;
  }

  /** A brush stroke from ``a`` to ``b``: ellipses close enough together to leave no gaps. */
  paintStroke(a: Point, b: Point, rx: number, ry: number, label: number): boolean {
    const step = Math.max(0.25, Math.min(rx, ry) / 2);
    const steps = Math.max(1, Math.ceil(Math.hypot(b.x - a.x, b.y - a.y) / step));
    let changed = false;
    for (let s = 0; s <= steps; s++) {
      const t = s / steps;
      changed = this.paintEllipse({ x: a.x + (b.x - a.x) * t, y: a.y + (b.y - a.y) * t }, rx, ry, label) || changed;
    }
    return changed;
  }

  /** Fill a closed polygon (even-odd rule) with ``label``. */
  fillPolygon(points: Point[], label: number): boolean {
    if (points.length < 3) return false;
    const n = this.size;
    let changed = false;
    for (let j = 0; j < n; j++) {
      const y = j + 0.5;
      const xs: number[] = [];
      for (let k = 0; k < points.length; k++) {
        const p = points[k];
        const q = points[(k + 1) % points.length];
        if (p.y <= y !== q.y <= y) xs.push(p.x + ((y - p.y) * (q.x - p.x)) / (q.y - p.y));
      }
      xs.sort((a, b) => a - b);
      for (let k = 0; k + 1 < xs.length; k += 2) {
        const from = Math.max(0, Math.ceil(xs[k] - 0.5));
        const to = Math.min(n - 1, Math.floor(xs[k + 1] - 0.5));
        for (let i = from; i <= to; i++) {
          if (this.data[j * n + i] !== label) {
            this.data[j * n + i] = label;
            changed = true;
          }
        }
      }
    }
    return changed;
  }

  /** Flood-fill with ``label`` the 4-connected region around pixel ``p`` of pixels that have p's label and, when
   *  ``colours`` (RGBA, size x size) are given, a colour within ``tolerance`` (Euclidean distance in RGB) of p's
   *  own colour. Returns the number of pixels filled. */
  floodFill(p: Point, label: number, colours?: Uint8ClampedArray, tolerance = Infinity): number {
    const n = this.size;
    const sx = Math.floor(p.x);
    const sy = Math.floor(p.y);
    if (sx < 0 || sy < 0 || sx >= n || sy >= n) return 0;
    const start = sy * n + sx;
    const target = this.data[start];
    if (target === label) return 0;
    const limit = tolerance * tolerance;
    const [r0, g0, b0] = colours ? [colours[4 * start], colours[4 * start + 1], colours[4 * start + 2]] : [0, 0, 0];
    const similar = (q: number) => {
      if (!colours) return true;
      const dr = colours[4 * q] - r0, dg = colours[4 * q + 1] - g0, db = colours[4 * q + 2] - b0;
      return dr * dr + dg * dg + db * db <= limit;
    };
    const stack = [start];
    this.data[start] = label;
    let filled = 1;
    while (stack.length) {
      const k = stack.pop()!;
      const x = k % n;
      const y = (k - x) / n;
      const around = [x > 0 ? k - 1 : -1, x < n - 1 ? k + 1 : -1, y > 0 ? k - n : -1, y < n - 1 ? k + n : -1];
      for (const q of around) {
        if (q >= 0 && this.data[q] === target && similar(q)) {
          this.data[q] = label;
          filled++;
          stack.push(q);
        }
      }
    }
    return filled;
  }

  /** Pixels per label, index 0..14. */
  counts(labels = 14): number[] {
    const out = new Array(labels + 1).fill(0);
    for (const v of this.data) out[v]++;
    return out;
  }

  /** The 14 DensePose dp_masks entries: RLE per part in part order, [] when the part is absent. */
  toDpMasks(labels = 14): DpMask[] {
    const masks: DpMask[] = [];
    for (let part = 1; part <= labels; part++) {
      const m = new Uint8Array(this.data.length);
      let any = false;
      for (let k = 0; k < m.length; k++) {
        if (this.data[k] === part) {
          m[k] = 1;
          any = true;
        }
      }
      masks.push(any ? encode(m, this.size, this.size) : []);
    }
    return masks;
  }

  /** From dp_masks; where masks overlap the later part wins (as DensePose's loaders do). */
  static fromDpMasks(masks: DpMask[]): LabelMap {
    const map = new LabelMap();
    masks.forEach((rle, k) => {
      if (!rle || !("size" in rle)) return;
      if (rle.size[0] !== map.size || rle.size[1] !== map.size)
        throw new Error(`mask ${k + 1} is ${rle.size.join("x")}, not ${map.size}x${map.size}`);
      const m = decode(rle);
      for (let i = 0; i < m.length; i++) if (m[i]) map.data[i] = k + 1;
    });
    return map;
  }
}

/** A part's share of the box as the palette shows it: "" for none, "<1%" for a few pixels (never "0%"). */
export function shareLabel(pixels: number, total: number = BOX_SCALE * BOX_SCALE): string {
  if (pixels <= 0) return "";
  const percent = Math.round((100 * pixels) / total);
  return percent < 1 ? "<1%" : `${percent}%`;
}
