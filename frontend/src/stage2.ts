// Stage 2: for each point sampled in the part masks, the annotator clicks the matching spot on any of the six
// views of that body part; the chosen surface point then appears on all six views at once (computed here
// from the part's view bundle, no server round trip per click), hidden views showing it as hidden. One click a
// point: after a click the editor moves on by itself a moment later (a click meanwhile corrects the answer, ←
// goes back); each view is labelled with where its camera stands, and can be zoomed with the wheel.

import { Autosaver } from "./autosave";
import type { Api } from "./api";
import { ask, el, isTyping, rgb } from "./dom";
import { ImageCanvas, dimOutside, loadImage } from "./canvas";
import { boxToImage } from "./geometry";
import { ReviewOverview } from "./overview";
import { PartSurface, type SurfaceHit } from "./surface";
import { advanceDelay, countClick, recordLatency } from "./testhooks";
import type { Answer, Config, Editor, ProposedPoint, SampledPoint, Task } from "./types";
import { viewIcon } from "./viewicon";

// The chosen point on the views: one strong colour that no part colour or view shading is close to.
const MARKER = "#ff1f5a";
// A model's proposal, not yet confirmed: a hollow diamond in another colour (confirmed, it becomes a MARKER).
const PROPOSAL_MARKER = "#00d5ff";

// After a click, how long the answer stays on screen (markers on all six views) before the next point shows.
export const ADVANCE_MS = 400;
const ADVANCE_KEY = "densepose.stage2.advance"; // localStorage: "off" when the annotator moves on with → only
const MAX_ZOOM = 6;
const DRAG_PX = 4; // a pointer that moves further than this between down and up pans; it is not a click

const STATUS_TEXT: Record<Answer["status"], string> = {
  ok: "placed",
  not_visible: "not visible / cannot tell",
  unsure: "unsure",
};

export class CorrespondenceEditor implements Editor {
  private abort = new AbortController();
  private points: SampledPoint[]; // the points to work through: all, or those a reviewer sent back to redo
  private allPoints: SampledPoint[];
  private flagged = new Set<number>(); // review: point ids to send back
  private returned = new Map<number, Answer>(); // a returned task: the flagged points' answers sent back
  private hover: number | null = null; // review overview: the point under the pointer (index into points)
  private overview: ReviewOverview | null = null;
  private flagButton: HTMLButtonElement | null = null;
  private answers = new Map<number, Answer>();
  private hits = new Map<number, SurfaceHit>();
  private proposals = new Map<number, ProposedPoint>(); // point id -> the model's click (pre-annotation)
  private current = 0;
  private surfaces = new Map<number, Promise<PartSurface>>();
  private img!: HTMLImageElement;
  private view!: ImageCanvas;
  private cells: { cell: HTMLElement; picture: HTMLImageElement; overlay: HTMLCanvasElement; zoom: HTMLElement;
    label: HTMLElement; scale: number; x: number; y: number }[] = [];
  private advanceTimer: number | undefined;
  private autoAdvance = localStorage.getItem(ADVANCE_KEY) !== "off";
  private saver: Autosaver | null = null;
  private title = el("div", { class: "point-title" });
  private info = el("div", { class: "point-info" });
  private progress = el("div", { class: "point-progress" });
  private status = el("span", { class: "draft-status" });
  private shownPart = 0;
  /** The part whose picture each view cell shows now (0 while the current part's picture loads). */
  private loadedPart = [0, 0, 0, 0, 0, 0];
  private preloaded = new Map<number, HTMLImageElement[]>();

  constructor(
    private readonly root: HTMLElement,
    private readonly task: Task,
    private readonly config: Config,
    private readonly api: Api,
    private readonly readOnly: boolean,
    answers: Answer[] | undefined,
    current = 0,
  ) {
    this.allPoints = [...(task.points ?? [])];
    const redo = new Set(readOnly ? [] : (task.flagged_points ?? []));
    this.points = redo.size ? this.allPoints.filter((p) => redo.has(p.id)) : this.allPoints;
    for (const a of answers ?? []) this.answers.set(a.point, a);
    if (!readOnly) for (const p of task.proposal?.points ?? []) this.proposals.set(p.point, p);
    // a returned task: the answers the reviewer sent back, each to be answered again or confirmed unchanged (C)
    if (!readOnly) for (const a of task.flagged_answers ?? []) this.returned.set(a.point, a);
    this.current = Math.min(Math.max(0, current), Math.max(0, this.points.length - 1));
    if (!readOnly) {
      this.saver = new Autosaver(api, config.urls.draft.replace("{id}", String(task.id)),
        () => ({ answers: [...this.answers.values()], current: this.current }), config.autosave_ms, this.status, !!answers);
      window.addEventListener("beforeunload", () => this.saver?.beacon(), { signal: this.abort.signal });
    }
  }

  async start(): Promise<void> {
    if (!this.task.body) throw new Error(`the ${this.task.project} body views are not built yet; ask an admin`);
    if (!this.points.length) throw new Error("this person has no sampled points");
    this.img = await loadImage(this.task.person.image.url);
    this.build();
    // restore the surface points of answers from a draft or a submission
    const parts = new Set(this.points.filter((p) => this.answers.get(p.id)?.status === "ok").map((p) => p.part));
    await Promise.all([...parts].map((part) => this.surface(part)));
    for (const p of this.points) {
      const a = this.answers.get(p.id);
      if (a?.status === "ok") {
        const hit = (await this.surface(p.part)).mapClick(a.view!, a.x!, a.y!);
        if (hit) this.hits.set(p.id, hit);
      }
    }
    if (this.readOnly && this.task.overview) {
      const suspect = ReviewOverview.firstSuspect(this.task.overview, this.points);
      if (suspect !== null) this.current = suspect; // the answer that looks most wrong first
    }
    this.show(this.current);
  }

  private surface(part: number): Promise<PartSurface> {
    let s = this.surfaces.get(part);
    if (!s) {
      const url = this.task.body!.bundle_url.replace("{part}", String(part));
      s = this.api.binary(url).then((buffer) => new PartSurface(buffer));
      s.catch(() => this.surfaces.delete(part));
      this.surfaces.set(part, s);
    }
    return s;
  }

  private build(): void {
    const signal = this.abort.signal;
    const left = el("div", { class: "stage2-left" });
    const area = el("div", { class: "canvas-area" });
    const nav = el("div", { class: "row nav" });
    const add = (label: string, key: string, action: () => void, cls = "") => {
      const b = el("button", { class: cls, title: key }, label, " ", el("kbd", { text: key }));
      b.addEventListener("click", action);
      nav.append(b);
      return b;
    };
    add("Previous", "←", () => this.move(-1));
    if (!this.readOnly && this.proposals.size) add("Confirm", "Enter", () => this.confirmProposal(), "confirm");
    if (!this.readOnly) {
      add("Not visible", "N", () => this.mark("not_visible"), "mark");
      add("Unsure", "U", () => this.mark("unsure"), "mark");
      if (this.returned.size) add("Same again", "C", () => this.confirmUnchanged(), "confirm-unchanged");
    }
    add("Next", "→", () => this.move(1));
    if (this.readOnly) {
      this.flagButton = add("Flag", "F", () => this.toggleFlag(), "flag");
      this.flagButton.title = "flag this point: a rejection sends only the flagged points back (F)";
      if (this.task.overview) add("Overview", "O", () => this.toggleOverview(), "overview-toggle");
    }
    if (!this.readOnly) {
      const box = el("input", { type: "checkbox", class: "auto-advance" }) as HTMLInputElement;
      box.checked = this.autoAdvance;
      box.addEventListener("change", () => {
        this.autoAdvance = box.checked;
        localStorage.setItem(ADVANCE_KEY, box.checked ? "on" : "off");
        if (!box.checked) this.cancelAdvance();
        box.blur();
      });
      nav.append(el("label", { class: "check", title: "one click a point: the next point shows a moment after a click" },
        box, " move on after a click"));
    }
    left.append(this.title, area, nav, this.progress, this.status);
    const grid = el("div", { class: "views" });
    for (let v = 0; v < 6; v++) {
      const picture = el("img", { class: "view-picture", alt: `view ${v + 1}`, draggable: "false" }) as HTMLImageElement;
      const overlay = el("canvas", { class: "view-overlay", width: 512, height: 512, "data-view": v }) as HTMLCanvasElement;
      const zoom = el("div", { class: "view-zoom" }, picture, overlay);
      const label = el("span", { class: "view-label", text: `view ${v + 1}` });
      const reset = el("button", { class: "zoom-reset", title: "show the whole view", text: "1:1" });
      const cell = el("div", { class: "view-cell", "data-view": v }, zoom, label, reset);
      reset.addEventListener("click", () => this.setZoom(v, 1, 0, 0));
      this.listenPointer(v, overlay, signal);
      cell.addEventListener("wheel", (e) => this.onWheel(v, e), { signal, passive: false });
      picture.addEventListener("load", () => {
        if (picture.src !== this.pictureUrl(this.shownPart, v)) return; // an earlier part's picture, too late
        this.loadedPart[v] = this.shownPart;
        cell.dataset.part = String(this.shownPart);
        cell.classList.remove("loading");
      }, { signal });
      grid.append(cell);
      this.cells.push({ cell, picture, overlay, zoom, label, scale: 1, x: 0, y: 0 });
    }
    const right = el("div", { class: "stage2-right" }, grid, this.info);
    if (this.readOnly && this.task.overview) {
      this.overview = new ReviewOverview(this.task.overview, this.points, this.config, {
        hover: (k) => this.setHover(k),
        open: (k) => this.show(k),
        label: (k) => this.pointLabel(k),
      });
      right.insertBefore(this.overview.element, this.info);
    }
    this.root.append(el("div", { class: "stage2" }, left, right));
    this.view = new ImageCanvas(area, () => this.task.person.bbox, (ctx) => this.paint(ctx), signal);
    this.view.dragPans = true;
    if (this.overview) {
      this.view.canvas.addEventListener("pointermove", (e) => this.setHover(this.pointAt(e)), { signal });
      this.view.canvas.addEventListener("pointerleave", () => this.setHover(null), { signal });
    }
    window.addEventListener("keydown", (e) => this.onKey(e), { signal });
  }

  private pointImage(p: SampledPoint) {
    return boxToImage(this.task.person.bbox, { x: p.box_x, y: p.box_y });
  }

  private show(index: number): void {
    this.cancelAdvance();
    this.current = index;
    const p = this.points[index];
    const part = this.config.parts[p.part - 1];
    this.title.replaceChildren(
      el("span", { class: "swatch", style: `background:${rgb(part.color)}` }),
      el("strong", { text: part.name }),
      ` · ${this.pointNumber(p)}`,
      ...(this.points.length < this.allPoints.length ? [` (flagged ${index + 1} of ${this.points.length})`] : []),
      ...(this.needsAnswer(p) ? [el("span", { class: "returned", text: " · sent back: answer again, or C to keep it" })] : []),
    );
    if (this.shownPart !== p.part) {
      this.shownPart = p.part;
      this.cells.forEach(({ cell, picture, overlay, label }, v) => {
        // until the new picture is on screen, clicks on this cell do not count (they would be read as the new
        // part's while the annotator sees the old one)
        this.loadedPart[v] = 0;
        this.setZoom(v, 1, 0, 0);
        label.replaceChildren(`view ${v + 1}`);
        cell.classList.add("loading");
        delete cell.dataset.part;
        picture.src = this.pictureUrl(p.part, v);
        overlay.getContext("2d")!.clearRect(0, 0, overlay.width, overlay.height);
      });
      // fetch the next part's views and pictures while this one is worked on
      const next = this.points.find((q, k) => k > index && q.part !== p.part);
      if (next) {
        void this.surface(next.part).catch(() => {});
        this.preloadPictures(next.part);
      }
    }
    void this.surface(p.part).then((surface) => {
      this.labelViews(surface);
      this.drawMarkers(surface);
    }, (error) => this.info.textContent = String(error));
    this.renderProgress();
    this.view.draw();
    this.overview?.mark(this.hover, this.current, this.flagged);
    this.flagButton?.classList.toggle("active", this.flagged.has(p.id));
  }

  private pointLabel(k: number): string {
    const p = this.points[k];
    const o = this.task.overview?.points.find((q) => q.point === p.id);
    const far = o?.residual_m != null ? `, ${Math.round(100 * o.residual_m)} cm from where its neighbours put it` : "";
    return `#${k + 1} ${this.config.parts[p.part - 1].name}${far}`;
  }

  /** Review: the point nearest the pointer on the image (within 12 screen pixels), or null. */
  private pointAt(e: PointerEvent): number | null {
    const here = this.view.local(e);
    let best: number | null = null;
    let bestD = 12;
    this.points.forEach((p, k) => {
      const s = this.view.transform.toScreen(this.pointImage(p));
      const d = Math.hypot(s.x - here.x, s.y - here.y);
      if (d < bestD) [best, bestD] = [k, d];
    });
    return best;
  }

  private setHover(k: number | null): void {
    if (k === this.hover) return;
    this.hover = k;
    this.overview?.mark(k, this.current, this.flagged);
    this.view.draw();
  }

  private toggleOverview(): void {
    const stage = this.root.querySelector(".stage2");
    stage?.classList.toggle("overview-mode");
    this.root.querySelector(".overview-toggle")?.classList.toggle("active", !!stage?.classList.contains("overview-mode"));
    this.view.draw();
  }

  private toggleFlag(): void {
    if (!this.readOnly) return;
    const id = this.points[this.current].id;
    if (this.flagged.has(id)) this.flagged.delete(id);
    else this.flagged.add(id);
    this.show(this.current);
  }

  /** Each view named for where its camera stands relative to the body, with a small map of it. */
  private labelViews(surface: PartSurface): void {
    if (surface.header.part !== this.shownPart) return;
    const name = this.config.parts[surface.header.part - 1].name;
    this.cells.forEach(({ picture, label }, v) => {
      const d = surface.header.directions[v];
      label.replaceChildren(viewIcon(d), el("span", { text: d.label }));
      label.title = `the ${name} seen from the ${d.label} (left and right are the person's own)`;
      picture.alt = `${name}, seen from the ${d.label}`;
    });
  }

  private listenPointer(view: number, overlay: HTMLCanvasElement, signal: AbortSignal): void {
    let start: PointerEvent | null = null;
    let panning = false;
    overlay.addEventListener("pointerdown", (e) => {
      if (e.button !== 0) return;
      start = e;
      panning = false;
      overlay.setPointerCapture(e.pointerId);
    }, { signal });
    overlay.addEventListener("pointermove", (e) => {
      if (!start) return;
      const c = this.cells[view];
      if (!panning && c.scale > 1 && Math.hypot(e.clientX - start.clientX, e.clientY - start.clientY) > DRAG_PX) panning = true;
      if (panning) this.setZoom(view, c.scale, c.x + e.movementX, c.y + e.movementY);
    }, { signal });
    overlay.addEventListener("pointerup", (e) => {
      if (!start) return;
      const down = start;
      start = null;
      if (!panning && e.button === 0) this.onViewClick(view, down);
    }, { signal });
    overlay.addEventListener("pointercancel", () => { start = null; }, { signal });
  }

  private onWheel(view: number, e: WheelEvent): void {
    e.preventDefault();
    const c = this.cells[view];
    const r = c.cell.getBoundingClientRect();
    const scale = Math.min(MAX_ZOOM, Math.max(1, c.scale * Math.exp(-e.deltaY * 0.0015)));
    // keep the spot under the pointer where it is
    const px = e.clientX - r.left - r.width / 2;
    const py = e.clientY - r.top - r.height / 2;
    const k = scale / c.scale;
    this.setZoom(view, scale, px - (px - c.x) * k, py - (py - c.y) * k);
  }

  /** Zoom a view by ``scale`` about its centre, shifted by (x, y) screen pixels; clamped so that the picture
   *  always fills what it filled unzoomed. Clicks keep mapping right: they are read through the element's box. */
  private setZoom(view: number, scale: number, x: number, y: number): void {
    const c = this.cells[view];
    const w = c.zoom.offsetWidth, h = c.zoom.offsetHeight;
    const limitX = (w * (scale - 1)) / 2, limitY = (h * (scale - 1)) / 2;
    const changed = scale !== c.scale;
    c.scale = scale;
    c.x = Math.min(limitX, Math.max(-limitX, x));
    c.y = Math.min(limitY, Math.max(-limitY, y));
    c.zoom.style.transform = scale === 1 ? "" : `translate(${c.x}px, ${c.y}px) scale(${scale})`;
    c.cell.classList.toggle("zoomed", scale > 1);
    if (changed && this.surfaces.has(this.shownPart)) this.drawMarkers();
  }

  private cancelAdvance(): void {
    if (this.advanceTimer !== undefined) {
      clearTimeout(this.advanceTimer);
      this.advanceTimer = undefined;
    }
    this.root.querySelector(".stage2")?.classList.remove("advancing");
  }

  /** One click a point: the answer stays on screen ADVANCE_MS, then the next point shows (a click meanwhile
   *  corrects the answer and starts the wait again). */
  private scheduleAdvance(): void {
    this.cancelAdvance();
    if (!this.autoAdvance || this.readOnly || this.current >= this.points.length - 1) return;
    const from = this.current;
    const stage = this.root.querySelector(".stage2");
    stage?.classList.add("advancing");
    this.advanceTimer = window.setTimeout(() => {
      this.advanceTimer = undefined;
      stage?.classList.remove("advancing");
      if (this.current === from) this.move(1);
    }, advanceDelay(ADVANCE_MS));
  }

  private pictureUrl(part: number, view: number): string {
    const path = this.task.body!.picture_url.replace("{part}", String(part)).replace("{view}", String(view));
    return new URL(path, location.href).href;
  }

  private preloadPictures(part: number): void {
    if (this.preloaded.has(part)) return;
    this.preloaded.set(part, [0, 1, 2, 3, 4, 5].map((v) => {
      const image = new Image();
      image.src = this.pictureUrl(part, v); // the browser keeps it (the URL carries the asset key)
      return image;
    }));
  }

  private renderProgress(): void {
    const suspects = new Set((this.task.overview?.points ?? []).filter((q) => q.suspect).map((q) => q.point));
    const confirmed = new Set((this.task.overview?.points ?? []).filter((q) => q.origin === "confirmed").map((q) => q.point));
    this.progress.replaceChildren(
      ...this.points.map((p, k) => {
        const a = this.answers.get(p.id);
        const dot = el("button", {
          class: `dot ${a ? a.status : "open"}${k === this.current ? " current" : ""}${this.flagged.has(p.id) ? " flagged" : ""}` +
            `${suspects.has(p.id) ? " suspect" : ""}${(!a && this.proposals.has(p.id)) || confirmed.has(p.id) ? " proposed" : ""}`,
          title: `${this.config.parts[p.part - 1].name}, ${this.pointNumber(p)}: ${a ? STATUS_TEXT[a.status] : "no answer yet"}`,
          style: `--part:${rgb(this.config.parts[p.part - 1].color)}`,
        });
        dot.addEventListener("click", () => this.show(k));
        return dot;
      }),
      el("span", { class: "answered", text: `${this.points.filter((p) => this.answers.has(p.id)).length} / ${this.points.length} answered` }),
    );
  }

  private onViewClick(view: number, e: PointerEvent): void {
    if (this.readOnly) return;
    const t0 = performance.now();
    const p = this.points[this.current];
    if (this.loadedPart[view] !== p.part) {
      countClick("__ignoredClicks");
      const name = this.config.parts[p.part - 1].name;
      this.info.textContent = `The ${name} views are still loading: that click did not count. Click once they show.`;
      return;
    }
    const pending = this.surfaces.get(p.part);
    if (!pending) return;
    void pending.then((surface) => {
      const overlay = this.cells[view].overlay;
      const r = overlay.getBoundingClientRect();
      const x = ((e.clientX - r.left) / r.width) * surface.size;
      const y = ((e.clientY - r.top) / r.height) * surface.size;
      const hit = surface.mapClick(view, x, y);
      countClick("__viewClicks");
      if (!hit) {
        this.info.textContent = "That spot is not on the part: click on the coloured body part.";
        this.cells[view].cell.classList.add("miss");
        setTimeout(() => this.cells[view].cell.classList.remove("miss"), 300);
        return;
      }
      this.answers.set(p.id, { point: p.id, status: "ok", view, x: Math.round(x * 100) / 100, y: Math.round(y * 100) / 100 });
      this.hits.set(p.id, hit);
      this.drawMarkers(surface);
      requestAnimationFrame(() => recordLatency(performance.now() - t0));
      this.renderProgress();
      this.view.draw();
      this.saver?.changed();
      this.scheduleAdvance();
    });
  }

  private drawMarkers(known?: PartSurface): void {
    const p = this.points[this.current];
    const draw = (surface: PartSurface) => {
      if (this.points[this.current] !== p) return;
      const a = this.answers.get(p.id);
      const proposal = a ? undefined : this.proposals.get(p.id);
      const proposed = proposal ? surface.mapClick(proposal.view, proposal.x, proposal.y) : null;
      const hit = this.hits.get(p.id) ?? proposed ?? undefined;
      const projections = hit ? surface.project(hit.point) : null;
      this.cells.forEach(({ cell, overlay, scale }, v) => {
        const ctx = overlay.getContext("2d")!;
        ctx.clearRect(0, 0, overlay.width, overlay.height);
        cell.classList.toggle("chosen", a?.status === "ok" && a.view === v);
        cell.classList.remove("hidden-point", "shown-point");
        if (!projections) return;
        const q = projections[v];
        if (!Number.isFinite(q.x) || !Number.isFinite(q.y)) return;
        cell.classList.add(q.visible ? "shown-point" : "hidden-point");
        const k = 1 / scale; // a zoomed view keeps the marker its usual size on screen
        ctx.lineWidth = 4 * k;
        if (proposed && q.visible) {
          for (const [r, color, w] of [[15, "#111", 7], [15, PROPOSAL_MARKER, 4]] as const) {
            ctx.beginPath();
            ctx.moveTo(q.x, q.y - r * k);
            ctx.lineTo(q.x + r * k, q.y);
            ctx.lineTo(q.x, q.y + r * k);
            ctx.lineTo(q.x - r * k, q.y);
            ctx.closePath();
            ctx.strokeStyle = color;
            ctx.lineWidth = w * k;
            ctx.stroke();
          }
        } else if (q.visible) {
          ctx.beginPath();
          ctx.arc(q.x, q.y, 11 * k, 0, 2 * Math.PI);
          ctx.fillStyle = MARKER;
          ctx.fill();
          ctx.strokeStyle = "#fff";
          ctx.stroke();
          ctx.beginPath();
          ctx.arc(q.x, q.y, 15 * k, 0, 2 * Math.PI);
          ctx.strokeStyle = "#111";
          ctx.lineWidth = 2 * k;
          ctx.stroke();
        } else {
          ctx.setLineDash([6 * k, 6 * k]);
          ctx.strokeStyle = "rgba(60, 60, 70, 0.8)";
          ctx.beginPath();
          ctx.arc(q.x, q.y, 13 * k, 0, 2 * Math.PI);
          ctx.stroke();
          ctx.setLineDash([]);
          ctx.font = `${22 * k}px system-ui, sans-serif`;
          ctx.fillStyle = "rgba(60, 60, 70, 0.9)";
          ctx.fillText("hidden", q.x + 18 * k, q.y + 7 * k);
        }
      });
      if (proposed && proposal) {
        const sure = proposal.confidence != null ? `, ${Math.round(100 * proposal.confidence)}% sure` : "";
        this.info.textContent = `The model proposes ${this.config.charts[proposed.chart - 1] ?? `chart ${proposed.chart}`}` +
          `${sure}: Enter confirms, a click on a view corrects.`;
      } else if (a?.status === "ok" && hit) {
        const from = this.task.overview?.points.find((q) => q.point === p.id)?.origin === "confirmed"
          ? " · the model's proposal, confirmed as it was" : "";
        this.info.textContent = `${this.config.charts[hit.chart - 1] ?? `chart ${hit.chart}`} · U ${hit.u.toFixed(3)} · V ${hit.v.toFixed(3)}${from}`;
      } else if (a) this.info.textContent = `Marked ${STATUS_TEXT[a.status]}.`;
      else this.info.textContent = this.readOnly ? "No answer." : "Click the matching spot on any of the six views.";
    };
    if (known) draw(known);
    else void this.surface(p.part).then(draw);
  }

  private paint(ctx: CanvasRenderingContext2D): void {
    const scale = this.view.transform.scale;
    ctx.imageSmoothingEnabled = scale < 2;
    ctx.drawImage(this.img, 0, 0);
    dimOutside(ctx, this.img, this.task.person.bbox, scale);
    this.view.screenSpace();
    const t = this.view.transform;
    const overview = this.root.querySelector(".stage2.overview-mode") !== null;
    this.points.forEach((p, k) => {
      if (k === this.current) return;
      const s = t.toScreen(this.pointImage(p));
      ctx.beginPath();
      ctx.arc(s.x, s.y, overview ? 5.5 : 3.5, 0, 2 * Math.PI);
      ctx.fillStyle = rgb(this.config.parts[p.part - 1].color, this.answers.has(p.id) ? 0.85 : 0.45);
      ctx.fill();
      if (this.flagged.has(p.id)) {
        ctx.strokeStyle = "#111";
        ctx.lineWidth = 2;
        ctx.strokeRect(s.x - 7, s.y - 7, 14, 14);
      }
    });
    if (this.hover !== null && this.hover !== this.current) {
      const s = t.toScreen(this.pointImage(this.points[this.hover]));
      for (const [r, color, w] of [[10, "#fff", 4], [10, "#111", 2]] as const) {
        ctx.beginPath();
        ctx.arc(s.x, s.y, r, 0, 2 * Math.PI);
        ctx.strokeStyle = color;
        ctx.lineWidth = w;
        ctx.stroke();
      }
    }
    const p = this.points[this.current];
    const s = t.toScreen(this.pointImage(p));
    ctx.lineWidth = 2;
    for (const [r, color] of [[12, "#000"], [10, "#fff"]] as const) {
      ctx.strokeStyle = color;
      ctx.beginPath();
      ctx.arc(s.x, s.y, r, 0, 2 * Math.PI);
      ctx.stroke();
    }
    ctx.beginPath();
    for (const [dx, dy] of [[1, 0], [-1, 0], [0, 1], [0, -1]]) {
      ctx.moveTo(s.x + dx * 14, s.y + dy * 14);
      ctx.lineTo(s.x + dx * 24, s.y + dy * 24);
    }
    ctx.strokeStyle = "#ffd84a";
    ctx.lineWidth = 3;
    ctx.stroke();
    ctx.beginPath();
    ctx.arc(s.x, s.y, 3, 0, 2 * Math.PI);
    ctx.fillStyle = rgb(this.config.parts[p.part - 1].color);
    ctx.fill();
  }

  private move(step: number): void {
    const k = Math.min(this.points.length - 1, Math.max(0, this.current + step));
    if (k !== this.current) {
      this.show(k);
      this.saver?.changed();
    }
  }

  /** Enter: the model's proposal for this point becomes the answer, as it is; the next point shows. */
  private confirmProposal(): void {
    if (this.readOnly) return;
    const p = this.points[this.current];
    const proposal = this.proposals.get(p.id);
    if (!proposal || this.answers.has(p.id)) return;
    void this.surface(p.part).then((surface) => {
      const hit = surface.mapClick(proposal.view, proposal.x, proposal.y);
      if (!hit || this.points[this.current] !== p) return;
      this.answers.set(p.id, { point: p.id, status: "ok", view: proposal.view, x: proposal.x, y: proposal.y });
      this.hits.set(p.id, hit);
      this.saver?.changed();
      if (this.current < this.points.length - 1) this.show(this.current + 1);
      else { this.drawMarkers(surface); this.renderProgress(); this.view.draw(); }
    });
  }

  /** A point's number among all the person's points: the same for the annotator and the reviewer. */
  private pointNumber(p: SampledPoint): string {
    return `point ${this.allPoints.indexOf(p) + 1} of ${this.allPoints.length}`;
  }

  /** A flagged point of a returned task whose answer is still the one sent back, not confirmed. */
  private needsAnswer(p: SampledPoint): boolean {
    const before = this.returned.get(p.id);
    const a = this.answers.get(p.id);
    if (!before) return false;
    if (!a) return true;
    return !a.confirmed && a.status === before.status && a.view === before.view && a.x === before.x && a.y === before.y;
  }

  /** C: a flagged point's answer, looked at again, stands as it was (said explicitly). */
  private confirmUnchanged(): void {
    if (this.readOnly) return;
    const p = this.points[this.current];
    const a = this.answers.get(p.id);
    if (!a || !this.returned.has(p.id)) return;
    this.answers.set(p.id, { ...a, confirmed: true });
    this.saver?.changed();
    if (this.current < this.points.length - 1) this.show(this.current + 1);
    else { this.show(this.current); this.renderProgress(); }
  }

  private mark(status: "not_visible" | "unsure"): void {
    if (this.readOnly) return;
    const p = this.points[this.current];
    this.answers.set(p.id, { point: p.id, status });
    this.hits.delete(p.id);
    this.saver?.changed();
    this.drawMarkers();
    if (this.current < this.points.length - 1) this.show(this.current + 1);
    else this.renderProgress();
  }

  private onKey(e: KeyboardEvent): void {
    if (isTyping(e) || e.ctrlKey || e.metaKey || e.altKey || document.querySelector(".modal-overlay")) return;
    switch (e.code) {
      case "ArrowRight": case "Space": e.preventDefault(); return this.move(1);
      case "ArrowLeft": e.preventDefault(); return this.move(-1);
      case "KeyD": if (!this.readOnly) this.move(1); return; // A and D also move, except in review (A accepts)
      case "KeyA": if (!this.readOnly) this.move(-1); return;
      case "Enter": case "NumpadEnter": e.preventDefault(); return this.confirmProposal();
      case "KeyN": return this.mark("not_visible");
      case "KeyU": return this.mark("unsure");
      case "KeyC": return this.confirmUnchanged();
      case "KeyF": return this.toggleFlag();
      case "KeyO": return this.overview ? this.toggleOverview() : undefined;
      case "Home": return this.view.fit();
    }
  }

  // --- Editor ----------------------------------------------------------------------------------------------

  async check(): Promise<boolean> {
    const stale = this.points.findIndex((p) => this.answers.has(p.id) && this.needsAnswer(p));
    if (stale >= 0 && this.points.every((p) => this.answers.has(p.id))) {
      this.show(stale);
      const count = this.points.filter((p) => this.needsAnswer(p)).length;
      await ask("Flagged points not looked at again",
        `${count} of the ${this.returned.size} points the reviewer sent back still have the answer they sent back. ` +
        "Answer each again (click its spot, N or U), or press C if it stands as it was.", ["Back to work"]);
      return false;
    }
    const open = this.points.findIndex((p) => !this.answers.has(p.id));
    if (open < 0) return true;
    this.show(open);
    const missing = this.points.filter((p) => !this.answers.has(p.id)).length;
    await ask("Points without an answer",
      `${missing} of ${this.points.length} points have no answer yet. ` +
      "Click each point's spot on a view, or mark it not visible (N) or unsure (U).", ["Back to work"]);
    return false;
  }

  result(): unknown {
    return { answers: this.allPoints.map((p) => this.answers.get(p.id)).filter((a): a is Answer => !!a) };
  }

  flaggedPoints(): number[] {
    return this.points.filter((p) => this.flagged.has(p.id)).map((p) => p.id);
  }

  async flush(): Promise<void> {
    await this.saver?.flush();
  }

  setErrorHandler(handler: (error: unknown) => void): void {
    if (this.saver) this.saver.onError = handler;
  }

  destroy(): void {
    this.saver?.stop();
    this.abort.abort();
    this.root.replaceChildren();
  }
}
