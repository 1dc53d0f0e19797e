// The stage-2 reviewer's overview: every answered point's surface point on the whole body from the front and from
// the back, coloured by part, linked to the points on the image (hovering one highlights the other, a click opens
// the point), the points far from where their neighbours put them listed and ringed first.

import { el, rgb } from "./dom";
import type { Config, Overview, SampledPoint } from "./types";

const SVG = "http://www.w3.org/2000/svg";

export class ReviewOverview {
  readonly element: HTMLElement;
  private circles = new Map<number, SVGCircleElement[]>(); // point index -> its circles on the pictures
  private list = el("div", { class: "suspects" });

  constructor(
    overview: Overview,
    private readonly points: SampledPoint[],
    config: Config,
    hooks: { hover: (k: number | null) => void; open: (k: number) => void; label: (k: number) => string },
  ) {
    const byId = new Map(overview.points.map((p) => [p.point, p]));
    const sides = overview.sides.map((side, s) => {
      const svg = document.createElementNS(SVG, "svg");
      svg.setAttribute("viewBox", `0 0 ${overview.size} ${overview.size}`);
      svg.setAttribute("class", "overview-marks");
      points.forEach((p, k) => {
        const o = byId.get(p.id);
        const at = o?.at?.[s];
        if (!at || o?.side !== s) return; // one picture a point: one that shows it (else a hollow mark)
        const c = document.createElementNS(SVG, "circle");
        c.setAttribute("cx", String(at.x));
        c.setAttribute("cy", String(at.y));
        c.setAttribute("r", "7");
        c.setAttribute("fill", rgb(config.parts[p.part - 1].color));
        c.setAttribute("class", `mark${o.suspect ? " suspect" : ""}${at.visible ? "" : " hidden"}`);
        c.dataset.point = String(k);
        const title = document.createElementNS(SVG, "title");
        title.textContent = hooks.label(k);
        c.append(title);
        c.addEventListener("pointerenter", () => hooks.hover(k));
        c.addEventListener("pointerleave", () => hooks.hover(null));
        c.addEventListener("click", () => hooks.open(k));
        svg.append(c);
        this.circles.set(k, [...(this.circles.get(k) ?? []), c]);
      });
      const picture = el("img", { src: overview.pictures[s], alt: `the whole body from the ${side}`, draggable: "false" });
      return el("figure", { class: "overview-side", "data-side": side }, el("div", { class: "overview-picture" }, picture, svg),
        el("figcaption", { text: side }));
    });
    const suspects = points.map((p, k) => ({ k, o: byId.get(p.id) })).filter(({ o }) => o?.suspect)
      .sort((a, b) => (b.o!.residual_m ?? 0) - (a.o!.residual_m ?? 0));
    if (suspects.length) {
      this.list.append(`${suspects.length} point${suspects.length > 1 ? "s" : ""} far from where their neighbours put them: `);
      for (const { k, o } of suspects) {
        const link = el("button", { class: "link suspect-link", "data-point": k, text: `#${k + 1} (${Math.round(100 * o!.residual_m!)} cm)` });
        link.addEventListener("click", () => hooks.open(k));
        link.addEventListener("pointerenter", () => hooks.hover(k));
        link.addEventListener("pointerleave", () => hooks.hover(null));
        this.list.append(link, " ");
      }
    } else {
      this.list.textContent = `No answer is more than ${Math.round(100 * overview.suspect_m)} cm from where its neighbours put it.`;
    }
    this.element = el("div", { class: "review-overview" }, this.list, el("div", { class: "overview-sides" }, ...sides));
  }

  /** Highlight point ``k`` (null: none), the current one and the flagged ones. */
  mark(hover: number | null, current: number, flagged: Set<number>): void {
    for (const [k, circles] of this.circles)
      for (const c of circles) {
        c.classList.toggle("hover", k === hover);
        c.classList.toggle("current", k === current);
        c.classList.toggle("flagged", flagged.has(this.points[k].id));
        // the current point on top (never the hovered one: moving the element under the pointer would end the hover)
        if (k === current && k !== hover && c.nextSibling) c.parentNode?.append(c);
      }
  }

  /** The first suspect point (largest residual), or null. */
  static firstSuspect(overview: Overview, points: SampledPoint[]): number | null {
    let best: number | null = null;
    let worst = -1;
    const byId = new Map(overview.points.map((p) => [p.point, p]));
    points.forEach((p, k) => {
      const o = byId.get(p.id);
      if (o?.suspect && (o.residual_m ?? 0) > worst) {
        worst = o.residual_m ?? 0;
        best = k;
      }
    });
    return best;
  }
}
