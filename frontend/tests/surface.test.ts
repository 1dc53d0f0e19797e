import { describe, expect, it } from "vitest";
import { PartSurface, type BundleHeader, type Camera } from "../src/surface";

// A bundle as pipeline/render/bundle.py lays it out: a 1 m square in the plane z = 0 (two faces), seen by a
// camera in front of it (looking along +z) and one behind it, each with an 8x8 id buffer drawn by hand.
const S = 8;

function camera(z: number, flip: boolean): Camera {
  // OpenCV: x right, y down, z forward. Front camera at (0,0,-2) looking +z; back camera at (0,0,2) looking -z.
  const rotation = flip ? [-1, 0, 0, 0, 1, 0, 0, 0, -1] : [1, 0, 0, 0, 1, 0, 0, 0, 1];
  const position = [0, 0, z];
  const translation = [0, 1, 2].map(
    (i) => -(rotation[3 * i] * position[0] + rotation[3 * i + 1] * position[1] + rotation[3 * i + 2] * position[2]),
  );
  return { rotation, translation, position, fx: 8, fy: 8, cx: 4, cy: 4 };
}

function makeBundle(): ArrayBuffer {
  const cameras = [camera(-2, false), camera(2, true)];
  const header: BundleHeader = {
    version: 2, body: "test", key: "k", part: 1, name: "Torso", size: S, views: 2, faces: 2, no_face: 0xffff,
    visibility: { base_m: 0.003, pixels: 2 }, cameras,
    directions: [{ label: "front", front: 1, left: 0, up: 0 }, { label: "back", front: -1, left: 0, up: 0 }],
  };
  const tri = [
    [-0.5, -0.5, 0, 0.5, -0.5, 0, 0.5, 0.5, 0],
    [-0.5, -0.5, 0, 0.5, 0.5, 0, -0.5, 0.5, 0],
  ].flat();
  const uv = [0, 0, 1, 0, 1, 1, 0, 0, 1, 1, 0, 1];
  const ids = new Uint16Array(2 * S * S).fill(0xffff);
  // the square spans pixels 2..5 in both views (x = 8 * X / 2 + 4); face 0 is below the diagonal x > y
  for (let view = 0; view < 2; view++)
    for (let row = 2; row < 6; row++)
      for (let col = 2; col < 6; col++) {
        const X = view === 0 ? (col + 0.5 - 4) / 4 : -(col + 0.5 - 4) / 4;
        const Y = (row + 0.5 - 4) / 4;
        ids[(view * S + row) * S + col] = X > Y ? 0 : 1;
      }
  const head = new TextEncoder().encode(JSON.stringify(header));
  const pad = (n: number) => (4 - (n % 4)) % 4;
  let offset = 4 + head.length + pad(4 + head.length);
  const total = offset + 2 * 36 + 2 * 24 + 2 + pad(2) + ids.byteLength;
  const buf = new ArrayBuffer(total);
  new DataView(buf).setUint32(0, head.length, true);
  new Uint8Array(buf, 4).set(head);
  new Float32Array(buf, offset, 18).set(tri);
  offset += 72;
  new Float32Array(buf, offset, 12).set(uv);
  offset += 48;
  new Uint8Array(buf, offset, 2).set([2, 2]);
  offset += 4;
  new Uint16Array(buf, offset, ids.length).set(ids);
  return buf;
}

describe("PartSurface", () => {
  const surface = new PartSurface(makeBundle());

  it("maps a click to the surface point, chart and UV under it", () => {
    const hit = surface.mapClick(0, 4.8, 3.2)!; // right of centre, above it (y down)
    expect(hit.point[0]).toBeCloseTo(0.2, 6);
    expect(hit.point[1]).toBeCloseTo(-0.2, 6);
    expect(hit.point[2]).toBeCloseTo(0, 6);
    expect(hit.chart).toBe(2);
    expect(hit.u).toBeCloseTo(0.7, 5);
    expect(hit.v).toBeCloseTo(0.3, 5);
    expect(surface.mapClick(0, 0.5, 0.5)).toBeNull(); // background
    expect(surface.mapClick(0, 99, 3)).toBeNull(); // outside the view
    expect(surface.mapClick(7, 4, 4)).toBeNull(); // no such view
  });

  it("shows the chosen point in every view, mirrored in the back view", () => {
    const hit = surface.mapClick(0, 4.8, 3.2)!;
    const [front, back] = surface.project(hit.point);
    expect(front.x).toBeCloseTo(4.8, 5);
    expect(front.y).toBeCloseTo(3.2, 5);
    expect(front.visible).toBe(true);
    expect(back.x).toBeCloseTo(3.2, 5);
    expect(back.visible).toBe(true);
  });

  it("calls a point hidden when it lies off the surface seen there", () => {
    const [front] = surface.project([0.2, -0.2, 1.5]); // 1.5 m behind the square (tolerance here: 0.88 m)
    expect(front.visible).toBe(false);
    const [, back] = surface.project([0.45, 0.45, 0]); // the back view shows pixel (2, 5): face 1, same plane
    expect(back.visible).toBe(true);
  });

  it("refuses a truncated bundle", () => {
    expect(() => new PartSurface(makeBundle().slice(0, 200))).toThrow();
  });
});
