import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { PartSurface } from "../src/surface";

// Written by tests/test_frontend_parity.py: real view bundles of the body assets, and what the server's click
// mapping (pipeline/correspond.py) answers for clicks on them. Plain `npm test` has no PARITY_DIR: nothing to compare.
const dir = process.env.PARITY_DIR;

interface ServerAnswer {
  part: number;
  view: number;
  x: number;
  y: number;
  ok: boolean;
  face: number; // the bundle's own face index
  chart: number;
  u: number;
  v: number;
  point: [number, number, number];
}

describe.runIf(dir)("the browser maps clicks as the server does", () => {
  it("on every click: on or off the part, the same face, chart, U, V and surface point", () => {
    const cases: ServerAnswer[] = JSON.parse(readFileSync(`${dir}/clicks.json`, "utf8"));
    const surfaces = new Map<number, PartSurface>();
    const surface = (part: number): PartSurface => {
      if (!surfaces.has(part)) {
        const bytes = readFileSync(`${dir}/part-${part}.bin`);
        surfaces.set(part, new PartSurface(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer));
      }
      return surfaces.get(part)!;
    };
    const differ: string[] = [];
    for (const c of cases) {
      const hit = surface(c.part).mapClick(c.view, c.x, c.y);
      const where = `part ${c.part} view ${c.view} (${c.x.toFixed(3)}, ${c.y.toFixed(3)})`;
      if ((hit !== null) !== c.ok) {
        differ.push(`${where}: browser ${hit ? "on" : "off"} the part, server ${c.ok ? "on" : "off"}`);
        continue;
      }
      if (!hit) continue;
      const far = Math.hypot(hit.point[0] - c.point[0], hit.point[1] - c.point[1], hit.point[2] - c.point[2]);
      if (hit.face !== c.face || hit.chart !== c.chart || Math.abs(hit.u - c.u) > 1e-4 || Math.abs(hit.v - c.v) > 1e-4 || far > 1e-5)
        differ.push(`${where}: browser face ${hit.face} I ${hit.chart} UV ${hit.u}, ${hit.v}; server face ${c.face} I ${c.chart} UV ${c.u}, ${c.v}; ${far} m apart`);
    }
    expect(cases.length).toBeGreaterThan(100);
    expect(differ.slice(0, 5)).toEqual([]);
  });
});
