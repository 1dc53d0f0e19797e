// Where a view's camera stands relative to the body, as a small map seen from above: the person in the middle
// facing down the icon (towards you, so their left is on your right, as on the body figure), the camera a dot
// around them, with a chevron when it looks from above or below.

const SVG = "http://www.w3.org/2000/svg";

export interface ViewDirection {
  label: string;
  front: number;
  left: number;
  up: number;
}

function node(tag: string, attrs: Record<string, string | number>): SVGElement {
  const n = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
  return n;
}

export function viewIcon(d: ViewDirection): SVGSVGElement {
  const svg = node("svg", { viewBox: "-14 -14 28 28", width: 32, height: 32, class: "view-icon", "aria-hidden": "true" }) as SVGSVGElement;
  svg.append(
    node("circle", { cx: 0, cy: 0, r: 11, fill: "none", stroke: "#c5cad6", "stroke-width": 1, "stroke-dasharray": "2 2" }),
    node("ellipse", { cx: 0, cy: 0, rx: 6, ry: 3, fill: "#8b93a5" }), // shoulders
    node("circle", { cx: 0, cy: 0.6, r: 2.4, fill: "#5d6577" }), // head
    node("path", { d: "M -1.4 2.6 L 0 5 L 1.4 2.6 Z", fill: "#5d6577" }), // nose: the front
  );
  const horizontal = Math.hypot(d.front, d.left);
  const r = 11 * Math.min(1, horizontal / 0.92);
  const x = horizontal > 1e-6 ? (r * d.left) / horizontal : 0;
  const y = horizontal > 1e-6 ? (r * d.front) / horizontal : 0;
  svg.append(node("circle", { cx: x, cy: y, r: 3.6, fill: "#ff1f5a", stroke: "#fff", "stroke-width": 1 }));
  if (Math.abs(d.up) >= 0.38) {
    const s = d.up > 0 ? -1 : 1; // above: a chevron pointing up over the dot; below: pointing down under it
    svg.append(node("path", { d: `M ${x - 2.5} ${y + s * 4.5} L ${x} ${y + s * 7} L ${x + 2.5} ${y + s * 4.5}`,
      fill: "none", stroke: "#111", "stroke-width": 1.4 }));
  }
  return svg;
}
