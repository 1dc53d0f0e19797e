import { describe, expect, it } from "vitest";
import { LabelMap, shareLabel } from "../src/labelmap";

describe("LabelMap", () => {
  it("paints one label per pixel: a part over another replaces it", () => {
    const map = new LabelMap();
    map.paintEllipse({ x: 100, y: 100 }, 10, 10, 1);
    const torso = map.counts()[1];
    expect(torso).toBeGreaterThan(300); // ~ pi r^2 = 314
    expect(torso).toBeLessThan(330);
    map.paintEllipse({ x: 100, y: 100 }, 5, 5, 14);
    const c = map.counts();
    expect(c[1] + c[14]).toBe(torso);
    expect(map.get(100, 100)).toBe(14);
    map.paintEllipse({ x: 100, y: 100 }, 20, 20, 0); // the eraser
    expect(map.counts()[0]).toBe(256 * 256);
  });

  it("stretches the brush with the box (round in the image, elliptic in the box frame)", () => {
    const map = new LabelMap();
    map.paintEllipse({ x: 128, y: 128 }, 20, 5, 3);
    expect(map.get(128 + 15, 128)).toBe(3);
    expect(map.get(128, 128 + 15)).toBe(0);
  });

  it("leaves no gaps along a fast stroke", () => {
    const map = new LabelMap();
    map.paintStroke({ x: 10, y: 50 }, { x: 240, y: 50 }, 2, 2, 2);
    for (let x = 10; x < 240; x++) expect(map.get(x, 50)).toBe(2);
  });

  it("fills polygons by pixel centres, even-odd", () => {
    const map = new LabelMap();
    map.fillPolygon([{ x: 10, y: 10 }, { x: 20, y: 10 }, { x: 20, y: 30 }, { x: 10, y: 30 }], 5);
    expect(map.counts()[5]).toBe(10 * 20);
    expect(map.get(10, 10)).toBe(5);
    expect(map.get(20, 10)).toBe(0);
  });

  it("flood-fills a closed outline's inside and nothing outside", () => {
    const map = new LabelMap();
    const square = [
      { x: 50, y: 50 }, { x: 150, y: 50 }, { x: 150, y: 150 }, { x: 50, y: 150 }, { x: 50, y: 50 },
    ];
    for (let k = 0; k + 1 < square.length; k++) map.paintStroke(square[k], square[k + 1], 1.5, 1.5, 7);
    const outline = map.counts()[7];
    map.floodFill({ x: 100, y: 100 }, 7);
    const filled = map.counts()[7];
    expect(filled - outline).toBeGreaterThan(95 * 95);
    expect(filled).toBeLessThan(103 * 103);
    expect(map.get(10, 10)).toBe(0);
  });

  it("fills only the connected pixels of similar colour when given the picture's colours", () => {
    const map = new LabelMap();
    const n = 256;
    const colours = new Uint8ClampedArray(n * n * 4);
    for (let y = 0; y < n; y++)
      for (let x = 0; x < n; x++) {
        // a red shirt (x < 100, with a little noise) on a grey background; another red patch apart at x >= 200
        const red = x < 100 || x >= 200;
        const k = 4 * (y * n + x);
        colours.set(red ? [200 + ((x * 7 + y * 3) % 11), 30, 30, 255] : [128, 128, 128, 255], k);
      }
    map.paintEllipse({ x: 50, y: 50 }, 10, 10, 3); // an earlier stroke of another part is kept
    const before = map.counts()[3];
    const filled = map.floodFill({ x: 20, y: 200 }, 1, colours, 30);
    expect(filled).toBe(100 * 256 - before);
    expect(map.counts()[1]).toBe(filled);
    expect(map.get(150, 10)).toBe(0); // the grey is not similar
    expect(map.get(230, 10)).toBe(0); // the other red patch is not connected
    expect(map.get(50, 50)).toBe(3);
    // without colours it is the old fill: every connected unpainted pixel
    expect(new LabelMap().floodFill({ x: 1, y: 1 }, 2)).toBe(n * n);
  });

  it("converts to 14 dp_masks and back exactly", () => {
    const map = new LabelMap();
    map.paintEllipse({ x: 60, y: 60 }, 30, 40, 1);
    map.paintEllipse({ x: 150, y: 200 }, 12, 12, 9);
    map.fillPolygon([{ x: 0, y: 0 }, { x: 255.9, y: 0 }, { x: 0, y: 40 }], 14);
    const masks = map.toDpMasks();
    expect(masks).toHaveLength(14);
    expect(masks[1]).toEqual([]);
    expect(masks[0]).toHaveProperty("size", [256, 256]);
    expect(LabelMap.fromDpMasks(masks).data).toEqual(map.data);
  });
});

describe("shareLabel", () => {
  it("never shows a painted part as 0%", () => {
    expect(shareLabel(0)).toBe("");
    expect(shareLabel(1)).toBe("<1%");
    expect(shareLabel(300)).toBe("<1%"); // 0.46 %: would round to 0
    expect(shareLabel(400)).toBe("1%");
    expect(shareLabel(32768)).toBe("50%");
  });
});
