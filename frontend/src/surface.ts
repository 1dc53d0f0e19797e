// Clicks on a body part's six views <-> points on its surface, in the browser, from the part's view bundle
// (pipeline/render/bundle.py writes it; the same math as pipeline/correspond.py, which re-maps every click
// authoritatively when the annotator submits).

import type { ViewDirection } from "./viewicon";

export interface Camera {
  rotation: number[]; // 3x3 row-major, world -> camera (x_cam = R x + t)
  translation: number[];
  position: number[];
  fx: number;
  fy: number;
  cx: number;
  cy: number;
}

export interface BundleHeader {
  version: number;
  body: string;
  key: string;
  part: number;
  name: string;
  size: number;
  views: number;
  faces: number;
  no_face: number;
  visibility: { base_m: number; pixels: number };
  cameras: Camera[];
  directions: ViewDirection[]; // where each view's camera stands relative to the body
}

export interface SurfaceHit {
  face: number; // the part's own face index
  bary: [number, number, number];
  point: [number, number, number];
  chart: number; // DensePose I
  u: number;
  v: number;
}

export interface Projection {
  x: number;
  y: number;
  visible: boolean;
}

export class PartSurface {
  readonly header: BundleHeader;
  readonly triangles: Float32Array; // (F, 3, 3)
  readonly cornerUV: Float32Array; // (F, 3, 2)
  readonly chart: Uint8Array; // (F)
  readonly ids: Uint16Array; // (views, S, S)
  private readonly planeNormal: Float64Array;
  private readonly planeOffset: Float64Array;

  constructor(buffer: ArrayBuffer) {
    const view = new DataView(buffer);
    const n = view.getUint32(0, true);
    this.header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 4, n)));
    if (this.header.version !== 2) throw new Error(`view bundle version ${this.header.version} is not supported`);
    const { faces: f, size: s, views } = this.header;
    let offset = 4 + n + ((4 - ((4 + n) % 4)) % 4);
    this.triangles = new Float32Array(buffer, offset, f * 9);
    offset += f * 36;
    this.cornerUV = new Float32Array(buffer, offset, f * 6);
    offset += f * 24;
    this.chart = new Uint8Array(buffer, offset, f);
    offset += f + ((4 - (f % 4)) % 4);
    this.ids = new Uint16Array(buffer, offset, views * s * s);
    if (offset + views * s * s * 2 !== buffer.byteLength) throw new Error("view bundle has the wrong length");
    this.planeNormal = new Float64Array(f * 3);
    this.planeOffset = new Float64Array(f);
    const t = this.triangles;
    for (let k = 0; k < f; k++) {
      const a = 9 * k;
      const e1 = [t[a + 3] - t[a], t[a + 4] - t[a + 1], t[a + 5] - t[a + 2]];
      const e2 = [t[a + 6] - t[a], t[a + 7] - t[a + 1], t[a + 8] - t[a + 2]];
      const nx = e1[1] * e2[2] - e1[2] * e2[1];
      const ny = e1[2] * e2[0] - e1[0] * e2[2];
      const nz = e1[0] * e2[1] - e1[1] * e2[0];
      this.planeNormal.set([nx, ny, nz], 3 * k);
      this.planeOffset[k] = nx * t[a] + ny * t[a + 1] + nz * t[a + 2];
    }
  }

  get size(): number {
    return this.header.size;
  }

  get views(): number {
    return this.header.views;
  }

  /** The part's face seen at pixel (col, row) of a view, or -1. */
  faceAt(view: number, col: number, row: number): number {
    const s = this.header.size;
    if (col < 0 || row < 0 || col >= s || row >= s) return -1;
    const id = this.ids[(view * s + row) * s + col];
    return id === this.header.no_face ? -1 : id;
  }

  /** Depth along the view axis where the ray through image point (x, y) meets the plane of ``face``. */
  private rayDepth(view: number, face: number, x: number, y: number): number {
    const c = this.header.cameras[view];
    const R = c.rotation;
    const dx = (x - c.cx) / c.fx;
    const dy = (y - c.cy) / c.fy;
    const d = [dx * R[0] + dy * R[3] + R[6], dx * R[1] + dy * R[4] + R[7], dx * R[2] + dy * R[5] + R[8]];
    const nrm = this.planeNormal;
    const o = c.position;
    const num = this.planeOffset[face] - (nrm[3 * face] * o[0] + nrm[3 * face + 1] * o[1] + nrm[3 * face + 2] * o[2]);
    const den = nrm[3 * face] * d[0] + nrm[3 * face + 1] * d[1] + nrm[3 * face + 2] * d[2];
    return num / den;
  }

  /** A click at image point (x, y) of a view -> the surface point under it, or null off the part. */
  mapClick(view: number, x: number, y: number): SurfaceHit | null {
    if (!(view >= 0 && view < this.views) || !Number.isFinite(x) || !Number.isFinite(y)) return null;
    const face = this.faceAt(view, Math.floor(x), Math.floor(y));
    if (face < 0) return null;
    const c = this.header.cameras[view];
    const R = c.rotation;
    const dx = (x - c.cx) / c.fx;
    const dy = (y - c.cy) / c.fy;
    const d = [dx * R[0] + dy * R[3] + R[6], dx * R[1] + dy * R[4] + R[7], dx * R[2] + dy * R[5] + R[8]];
    const depth = this.rayDepth(view, face, x, y);
    const p: [number, number, number] = [0, 1, 2].map((i) => c.position[i] + depth * d[i]) as [number, number, number];
    const bary = this.barycentric(face, p);
    const t = this.triangles;
    const a = 9 * face;
    const point = [0, 1, 2].map((i) => bary[0] * t[a + i] + bary[1] * t[a + 3 + i] + bary[2] * t[a + 6 + i]);
    const uv = this.cornerUV;
    const b = 6 * face;
    return {
      face,
      bary,
      point: point as [number, number, number],
      chart: this.chart[face],
      u: bary[0] * uv[b] + bary[1] * uv[b + 2] + bary[2] * uv[b + 4],
      v: bary[0] * uv[b + 1] + bary[1] * uv[b + 3] + bary[2] * uv[b + 5],
    };
  }

  /** Barycentric coordinates of p in the plane of ``face``, clamped onto the face. */
  private barycentric(face: number, p: number[]): [number, number, number] {
    const t = this.triangles;
    const a = 9 * face;
    const e1 = [t[a + 3] - t[a], t[a + 4] - t[a + 1], t[a + 5] - t[a + 2]];
    const e2 = [t[a + 6] - t[a], t[a + 7] - t[a + 1], t[a + 8] - t[a + 2]];
    const w = [p[0] - t[a], p[1] - t[a + 1], p[2] - t[a + 2]];
    const dot = (q: number[], r: number[]) => q[0] * r[0] + q[1] * r[1] + q[2] * r[2];
    const g11 = dot(e1, e1);
    const g12 = dot(e1, e2);
    const g22 = dot(e2, e2);
    const det = g11 * g22 - g12 * g12;
    const r1 = dot(e1, w);
    const r2 = dot(e2, w);
    const u = (g22 * r1 - g12 * r2) / det;
    const v = (g11 * r2 - g12 * r1) / det;
    const raw = [Math.max(0, 1 - u - v), Math.max(0, u), Math.max(0, v)];
    const sum = raw[0] + raw[1] + raw[2];
    return [raw[0] / sum, raw[1] / sum, raw[2] / sum];
  }

  /** A surface point -> its image point in every view, and whether the view shows it (the depth rule of
   * pipeline/correspond.py: within 3 mm plus two pixels' footprint of the surface seen there). */
  project(point: number[]): Projection[] {
    const out: Projection[] = [];
    const { base_m, pixels } = this.header.visibility;
    for (let view = 0; view < this.views; view++) {
      const c = this.header.cameras[view];
      const R = c.rotation;
      const cam = [0, 1, 2].map(
        (i) => R[3 * i] * point[0] + R[3 * i + 1] * point[1] + R[3 * i + 2] * point[2] + c.translation[i],
      );
      const z = cam[2];
      const x = (c.fx * cam[0]) / z + c.cx;
      const y = (c.fy * cam[1]) / z + c.cy;
      let visible = false;
      const face = z > 0 ? this.faceAt(view, Math.floor(x), Math.floor(y)) : -1;
      if (face >= 0) {
        const surface = this.rayDepth(view, face, x, y);
        visible = Math.abs(z - surface) <= base_m + (pixels * z) / c.fx;
      }
      out.push({ x, y, visible });
    }
    return out;
  }
}
