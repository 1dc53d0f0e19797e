// A small body figure that shows which part is which; clicking a part picks it. Seen from the front the person
// faces you (their right on your left); turned, it is seen from behind (their right on your right), for people
// whose back the camera sees.

import type { PartInfo } from "./types";
import { rgb } from "./dom";

const SVG = "http://www.w3.org/2000/svg";

// viewBox 0 0 100 190; keyed by part name (the server sends names and labels).
const SHAPES: Record<string, [string, Record<string, number>]> = {
  Head: ["ellipse", { cx: 50, cy: 15, rx: 10, ry: 12 }],
  Torso: ["rect", { x: 36, y: 29, width: 28, height: 52, rx: 5 }],
  "Upper Arm Right": ["rect", { x: 25, y: 31, width: 10, height: 27, rx: 4 }],
  "Lower Arm Right": ["rect", { x: 23, y: 59, width: 10, height: 25, rx: 4 }],
  "Right Hand": ["ellipse", { cx: 27, cy: 91, rx: 5.5, ry: 7 }],
  "Upper Arm Left": ["rect", { x: 65, y: 31, width: 10, height: 27, rx: 4 }],
  "Lower Arm Left": ["rect", { x: 67, y: 59, width: 10, height: 25, rx: 4 }],
  "Left Hand": ["ellipse", { cx: 73, cy: 91, rx: 5.5, ry: 7 }],
  "Upper Leg Right": ["rect", { x: 37, y: 82, width: 12, height: 44, rx: 4 }],
  "Lower Leg Right": ["rect", { x: 38, y: 127, width: 10, height: 44, rx: 4 }],
  "Right Foot": ["rect", { x: 34, y: 172, width: 14, height: 9, rx: 3 }],
  "Upper Leg Left": ["rect", { x: 51, y: 82, width: 12, height: 44, rx: 4 }],
  "Lower Leg Left": ["rect", { x: 52, y: 127, width: 10, height: 44, rx: 4 }],
  "Left Foot": ["rect", { x: 52, y: 172, width: 14, height: 9, rx: 3 }],
};

export class BodyFigure {
  readonly element: SVGSVGElement;
  private shapes = new Map<number, SVGElement>();
  private body = document.createElementNS(SVG, "g");
  private sides: SVGTextElement[] = [];
  private back = false;

  constructor(parts: PartInfo[], onPick: (label: number) => void) {
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 100 190");
    svg.setAttribute("class", "body-figure");
    svg.setAttribute("role", "img");
    for (const part of parts) {
      const shape = SHAPES[part.name];
      if (!shape) continue;
      const node = document.createElementNS(SVG, shape[0]);
      for (const [k, v] of Object.entries(shape[1])) node.setAttribute(k, String(v));
      node.setAttribute("fill", rgb(part.color));
      node.setAttribute("data-part", String(part.label));
      const title = document.createElementNS(SVG, "title");
      title.textContent = `${part.label} ${part.name}`;
      node.append(title);
      node.addEventListener("click", () => onPick(part.label));
      this.body.append(node);
      this.shapes.set(part.label, node);
    }
    svg.append(this.body);
    for (const x of [8, 92]) {
      const t = document.createElementNS(SVG, "text");
      t.setAttribute("x", String(x));
      t.setAttribute("y", "110");
      t.setAttribute("class", "side");
      svg.append(t);
      this.sides.push(t);
    }
    this.element = svg;
    this.turn(false);
  }

  get seenFromBehind(): boolean {
    return this.back;
  }

  /** Seen from behind (``back``) or from the front: the figure mirrored, its R and L labels swapped. */
  turn(back: boolean): void {
    this.back = back;
    this.body.setAttribute("transform", back ? "translate(100 0) scale(-1 1)" : "");
    this.sides[0].textContent = back ? "L" : "R";
    this.sides[1].textContent = back ? "R" : "L";
    this.element.setAttribute("aria-label", `body parts, seen from ${back ? "behind" : "the front"}`);
    this.element.dataset.seen = back ? "back" : "front";
  }

  select(label: number): void {
    for (const [k, node] of this.shapes) node.classList.toggle("selected", k === label);
  }
}
