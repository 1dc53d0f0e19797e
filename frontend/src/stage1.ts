// Stage 1: the person's part masks. Brush, polygon, eraser and fill paint one label per pixel of a 256 x 256
// map in the box frame (what DensePose stores), drawn over the photo; undo/redo across all tools; the draft is
// saved to the server as the annotator works. Fill takes the connected unpainted pixels whose photo colour is
// close to the clicked one (a tolerance slider), and says how much it filled.

import { Autosaver } from "./autosave";
import type { Api } from "./api";
import { ImageCanvas, dimOutside, loadImage } from "./canvas";
import { ask, el, isTyping, rgb } from "./dom";
import { BodyFigure } from "./figure";
import { BOX_SCALE, imageToBox, type Box, type Point } from "./geometry";
import { LabelMap, shareLabel, type DpMask } from "./labelmap";
import type { Config, Editor, Task } from "./types";
import { UndoStack } from "./undo";

type Tool = "brush" | "polygon" | "eraser" | "fill";
const TOOLS: [Tool, string, string][] = [
  ["brush", "Brush", "B"],
  ["polygon", "Polygon", "P"],
  ["eraser", "Eraser", "E"],
  ["fill", "Fill", "F"],
];
const TOLERANCE = { initial: 40, min: 5, max: 150, step: 5 }; // Euclidean distance in RGB, 0..441
const OPACITIES = [0.55, 0.85, 0.2];

/** Number keys: 1..9 and 0 pick parts 1..10; Shift+1..4 pick 11..14. */
export function partForKey(code: string, shift: boolean): number | null {
  const m = code.match(/^Digit(\d)$/);
  if (!m) return null;
  const d = Number(m[1]);
  if (shift) return d >= 1 && d <= 4 ? 10 + d : null;
  return d === 0 ? 10 : d;
}

export function keyForPart(label: number): string {
  return label <= 9 ? String(label) : label === 10 ? "0" : `⇧${label - 10}`;
}

export class MaskEditor implements Editor {
  private abort = new AbortController();
  private labels: LabelMap;
  private undo = new UndoStack<Uint8Array>();
  private tool: Tool = "brush";
  private part = 1;
  private brushPx = 12; // screen pixels (radius)
  private sizeInput: HTMLInputElement | null = null; // the slider, kept in step with [ and ]
  private tolerance = TOLERANCE.initial;
  private toleranceInput: HTMLInputElement | null = null;
  private boxColours: Uint8ClampedArray | null = null; // the photo under the label map, RGBA 256 x 256
  private fillInfo = el("span", { class: "fill-info" });
  private opacity = 0;
  private polygon: Point[] = []; // image coordinates
  private stroke: { last: Point; before: Uint8Array; changed: boolean } | null = null;
  private cursor: Point | null = null;
  private overlay = document.createElement("canvas");
  private overlayDirty = true;
  private view!: ImageCanvas;
  private img!: HTMLImageElement;
  private saver: Autosaver | null = null;
  private figure: BodyFigure;
  private partRows = new Map<number, { row: HTMLElement; count: HTMLElement }>();
  private toolButtons = new Map<Tool, HTMLButtonElement>();
  private status = el("span", { class: "draft-status" });
  private box: Box;

  constructor(
    private readonly root: HTMLElement,
    private readonly task: Task,
    private readonly config: Config,
    api: Api,
    private readonly readOnly: boolean,
    masks: DpMask[] | undefined,
    proposed = false, // the masks are a model's proposal, not a saved draft
  ) {
    this.box = task.person.bbox;
    this.labels = masks ? LabelMap.fromDpMasks(masks) : new LabelMap();
    this.overlay.width = this.overlay.height = BOX_SCALE;
    this.figure = new BodyFigure(config.parts, (label) => this.pickPart(label));
    if (!readOnly) {
      this.saver = new Autosaver(api, config.urls.draft.replace("{id}", String(task.id)),
        () => ({ dp_masks: this.labels.toDpMasks() }), config.autosave_ms, this.status, !!masks && !proposed);
      window.addEventListener("beforeunload", () => this.saver?.beacon(), { signal: this.abort.signal });
    }
  }

  async start(): Promise<void> {
    this.img = await loadImage(this.task.person.image.url);
    this.build();
    this.pickPart(this.part);
    this.pickTool(this.tool);
  }

  private build(): void {
    const signal = this.abort.signal;
    const palette = el("div", { class: "palette" });
    for (const part of this.config.parts) {
      const count = el("span", { class: "count" });
      const row = el("button", { class: "part", "data-part": part.label, title: `${part.name} (key ${keyForPart(part.label)})` },
        el("span", { class: "swatch", style: `background:${rgb(part.color)}` }),
        el("span", { class: "name", text: part.name }),
        el("kbd", { text: keyForPart(part.label) }), count);
      const sure = this.readOnly ? undefined : this.task.proposal?.confidence?.find((c) => c.part === part.label);
      if (sure) {
        row.append(el("span", { class: "proposal-confidence", text: `${Math.round(100 * sure.confidence)}%`,
          title: "proposed by a model: how sure it is of this part (check it, correct it)" }));
      }
      row.addEventListener("click", () => this.pickPart(part.label));
      palette.append(row);
      this.partRows.set(part.label, { row, count });
    }
    const tools = el("div", { class: "tools" });
    for (const [tool, label, key] of TOOLS) {
      const b = el("button", { class: "tool", "data-tool": tool, title: `${label} (${key})` }, label, el("kbd", { text: key }));
      b.addEventListener("click", () => this.pickTool(tool));
      this.toolButtons.set(tool, b);
      tools.append(b);
    }
    const size = el("input", { type: "range", min: 2, max: 60, value: this.brushPx, class: "brush-size", title: "brush size ([ and ])" }) as HTMLInputElement;
    size.addEventListener("input", () => this.setBrush(Number(size.value)));
    this.sizeInput = size;
    const tolerance = el("input", { type: "range", min: TOLERANCE.min, max: TOLERANCE.max, step: TOLERANCE.step,
      value: this.tolerance, class: "fill-tolerance", title: "how different a colour fill still takes ([ and ])" }) as HTMLInputElement;
    tolerance.addEventListener("input", () => this.setTolerance(Number(tolerance.value)));
    this.toleranceInput = tolerance;
    const buttons = el("div", { class: "tools" });
    const add = (label: string, title: string, action: () => void) => {
      const b = el("button", { text: label, title });
      b.addEventListener("click", action);
      buttons.append(b);
      return b;
    };
    add("Undo", "Ctrl+Z", () => this.doUndo());
    add("Redo", "Ctrl+Shift+Z", () => this.doRedo());
    add("Opacity", "O", () => this.cycleOpacity());
    add("Fit", "Home", () => this.view.fit());

    const hint = el("p", { class: "hint figure-hint" });
    const turn = el("button", { class: "turn-figure", title: "see the figure from the other side" }, "Turn ↔");
    const fromKeypoints = this.task.seen_from === "back";
    const showSide = (back: boolean) => {
      this.figure.turn(back);
      hint.textContent = back
        ? `Seen from behind${fromKeypoints ? " (as the keypoints show the person)" : ""}: the person's right is on your right.`
        : "Seen from the front: the person's right is on your left.";
    };
    turn.addEventListener("click", () => showSide(!this.figure.seenFromBehind));
    showSide(fromKeypoints);
    const side = el("aside", { class: "side-panel" }, el("h3", { text: this.readOnly ? "Part masks (read only)" : "Part" }),
      palette, this.figure.element, el("div", { class: "row figure-row" }, turn), hint);
    const bar = el("div", { class: "edit-bar" });
    if (!this.readOnly) bar.append(tools, el("span", { class: "sep" }), el("label", { class: "size-label" }, "Size", size),
      el("label", { class: "tolerance-label", hidden: true }, "Tolerance", tolerance), el("span", { class: "sep" }));
    bar.append(buttons);
    if (!this.readOnly) bar.append(this.status);
    for (const b of [...buttons.children].slice(0, 2)) (b as HTMLButtonElement).hidden = this.readOnly;
    const stageArea = el("div", { class: "canvas-area" }, this.fillInfo);
    this.root.append(el("div", { class: "stage1" }, side, el("div", { class: "stage1-main" }, bar, stageArea)));
    this.view = new ImageCanvas(stageArea, () => this.box, (ctx) => this.paint(ctx), signal);
    this.view.canvas.style.cursor = this.readOnly ? "grab" : "none";
    this.view.dragPans = this.readOnly;

    this.view.canvas.addEventListener("pointerdown", (e) => this.onDown(e), { signal });
    this.view.canvas.addEventListener("pointermove", (e) => this.onMove(e), { signal });
    this.view.canvas.addEventListener("pointerup", (e) => this.onUp(e), { signal });
    this.view.canvas.addEventListener("pointerleave", () => { this.cursor = null; this.view.draw(); }, { signal });
    this.view.canvas.addEventListener("dblclick", () => this.closePolygon(), { signal });
    window.addEventListener("keydown", (e) => this.onKey(e), { signal });
    window.addEventListener("keyup", (e) => { if (e.code === "Space") this.view.spaceHeld = false; }, { signal });
    this.updateCounts();
  }

  // --- state changes ---------------------------------------------------------------------------------------

  private pickPart(label: number): void {
    this.part = label;
    for (const [k, { row }] of this.partRows) row.classList.toggle("active", k === label);
    this.figure.select(label);
    if (this.tool === "eraser") this.pickTool("brush");
  }

  private pickTool(tool: Tool): void {
    if (this.readOnly) return;
    this.tool = tool;
    this.polygon = [];
    for (const [k, b] of this.toolButtons) b.classList.toggle("active", k === tool);
    const sizeLabel = this.root.querySelector<HTMLElement>(".size-label");
    const toleranceLabel = this.root.querySelector<HTMLElement>(".tolerance-label");
    if (sizeLabel && toleranceLabel) {
      sizeLabel.hidden = tool === "fill"; // the tolerance takes its place: nothing moves
      toleranceLabel.hidden = tool !== "fill";
    }
    if (tool !== "fill") this.fillInfo.textContent = "";
    this.view?.draw();
  }

  private cycleOpacity(): void {
    this.opacity = (this.opacity + 1) % OPACITIES.length;
    this.view.draw();
  }

  private changed(before: Uint8Array): void {
    this.undo.push(before);
    this.overlayDirty = true;
    this.updateCounts();
    this.saver?.changed();
    this.view.draw();
  }

  private doUndo(): void {
    const previous = this.undo.undo(this.labels.snapshot());
    if (previous) this.applyState(previous);
  }

  private doRedo(): void {
    const next = this.undo.redo(this.labels.snapshot());
    if (next) this.applyState(next);
  }

  private applyState(data: Uint8Array): void {
    this.labels.restore(data);
    this.overlayDirty = true;
    this.updateCounts();
    this.saver?.changed();
    this.view.draw();
  }

  /** The brush radius (2..60 screen pixels), the same whether set by the slider or by [ and ]. */
  private setBrush(px: number): void {
    this.brushPx = Math.min(60, Math.max(2, px));
    if (this.sizeInput) this.sizeInput.value = String(this.brushPx);
    this.view.draw();
  }

  private setTolerance(value: number): void {
    this.tolerance = Math.min(TOLERANCE.max, Math.max(TOLERANCE.min, value));
    if (this.toleranceInput) this.toleranceInput.value = String(this.tolerance);
  }

  /** The photo's colours under the 256 x 256 label map (the box frame), read once. */
  private colours(): Uint8ClampedArray {
    if (!this.boxColours) {
      const canvas = el("canvas", { width: BOX_SCALE, height: BOX_SCALE }) as HTMLCanvasElement;
      const ctx = canvas.getContext("2d", { willReadFrequently: true })!;
      const [x0, y0, w, h] = this.box;
      ctx.drawImage(this.img, x0, y0, w, h, 0, 0, BOX_SCALE, BOX_SCALE);
      this.boxColours = ctx.getImageData(0, 0, BOX_SCALE, BOX_SCALE).data;
    }
    return this.boxColours;
  }

  private fill(b: Point): void {
    const before = this.labels.snapshot();
    const filled = this.labels.floodFill(b, this.part, this.colours(), this.tolerance);
    if (!filled) {
      this.fillInfo.textContent = "Fill: that pixel is already this part.";
      return;
    }
    const share = (100 * filled) / (BOX_SCALE * BOX_SCALE);
    this.fillInfo.textContent = `Filled ${share < 1 ? share.toFixed(1) : Math.round(share)}% of the box ` +
      `(colours within ${this.tolerance} of the clicked one; Ctrl+Z undoes).`;
    this.changed(before);
  }

  private updateCounts(): void {
    const counts = this.labels.counts(this.config.parts.length);
    for (const [label, { row, count }] of this.partRows) {
      count.textContent = shareLabel(counts[label]);
      row.classList.toggle("empty", counts[label] === 0);
    }
  }

  // --- pointer ---------------------------------------------------------------------------------------------

  private radii(): [number, number] {
    const r = this.brushPx / this.view.transform.scale; // image pixels
    return [(r * BOX_SCALE) / this.box[2], (r * BOX_SCALE) / this.box[3]];
  }

  private onDown(e: PointerEvent): void {
    if (this.readOnly || e.button !== 0 || this.view.isPanning) return;
    const p = this.view.toImage(e);
    const b = imageToBox(this.box, p);
    if (this.tool === "brush" || this.tool === "eraser") {
      const before = this.labels.snapshot();
      const [rx, ry] = this.radii();
      const changed = this.labels.paintEllipse(b, rx, ry, this.tool === "eraser" ? 0 : this.part);
      this.stroke = { last: b, before, changed };
      this.view.canvas.setPointerCapture(e.pointerId);
      this.overlayDirty = true;
      this.view.draw();
    } else if (this.tool === "polygon") {
      if (this.polygon.length >= 3) {
        const first = this.view.transform.toScreen(this.polygon[0]);
        const here = this.view.local(e);
        if (Math.hypot(first.x - here.x, first.y - here.y) <= 8) return this.closePolygon();
      }
      this.polygon.push(p);
      this.view.draw();
    } else if (this.tool === "fill") {
      this.fill(b);
    }
  }

  private onMove(e: PointerEvent): void {
    this.cursor = this.view.local(e);
    if (this.stroke) {
      const b = imageToBox(this.box, this.view.toImage(e));
      const [rx, ry] = this.radii();
      if (this.labels.paintStroke(this.stroke.last, b, rx, ry, this.tool === "eraser" ? 0 : this.part))
        this.stroke.changed = true;
      this.stroke.last = b;
      this.overlayDirty = true;
    }
    this.view.draw();
  }

  private onUp(_e: PointerEvent): void {
    if (!this.stroke) return;
    const { before, changed } = this.stroke;
    this.stroke = null;
    if (changed) this.changed(before);
  }

  private closePolygon(): void {
    if (this.tool !== "polygon" || this.polygon.length < 3) return;
    const before = this.labels.snapshot();
    const inBox = this.polygon.map((p) => imageToBox(this.box, p));
    this.polygon = [];
    if (this.labels.fillPolygon(inBox, this.part)) this.changed(before);
    else this.view.draw();
  }

  private onKey(e: KeyboardEvent): void {
    if (isTyping(e) || document.querySelector(".modal-overlay")) return;
    const ctrl = e.ctrlKey || e.metaKey;
    if (ctrl && e.code === "KeyZ") {
      e.preventDefault();
      return e.shiftKey ? this.doRedo() : this.doUndo();
    }
    if (ctrl && e.code === "KeyY") {
      e.preventDefault();
      return this.doRedo();
    }
    if (ctrl) return;
    const part = partForKey(e.code, e.shiftKey);
    if (part !== null && part <= this.config.parts.length) return this.pickPart(part);
    switch (e.code) {
      case "KeyB": return this.pickTool("brush");
      case "KeyP": return this.pickTool("polygon");
      case "KeyE": return this.pickTool("eraser");
      case "KeyF": return this.pickTool("fill");
      case "KeyO": return this.cycleOpacity();
      case "Home": return this.view.fit();
      case "BracketLeft":
        return this.tool === "fill" ? this.setTolerance(this.tolerance - TOLERANCE.step) : this.setBrush(this.brushPx - 2);
      case "BracketRight":
        return this.tool === "fill" ? this.setTolerance(this.tolerance + TOLERANCE.step) : this.setBrush(this.brushPx + 2);
      case "Enter": return this.closePolygon();
      case "Escape": this.polygon = []; return this.view.draw();
      case "Backspace": this.polygon.pop(); return this.view.draw();
      case "Space":
        if (!e.repeat) this.view.spaceHeld = true;
        e.preventDefault();
        return;
    }
  }

  // --- drawing ---------------------------------------------------------------------------------------------

  private paint(ctx: CanvasRenderingContext2D): void {
    const scale = this.view.transform.scale;
    ctx.imageSmoothingEnabled = scale < 2;
    ctx.drawImage(this.img, 0, 0);
    dimOutside(ctx, this.img, this.box, scale);
    if (this.overlayDirty) this.renderOverlay();
    const [x, y, w, h] = this.box;
    ctx.imageSmoothingEnabled = false;
    ctx.globalAlpha = OPACITIES[this.opacity];
    ctx.drawImage(this.overlay, x, y, w, h);
    ctx.globalAlpha = 1;
    this.view.screenSpace();
    if (this.polygon.length) {
      const pts = this.polygon.map((p) => this.view.transform.toScreen(p));
      ctx.strokeStyle = rgb(this.config.parts[this.part - 1].color);
      ctx.lineWidth = 2;
      ctx.beginPath();
      pts.forEach((p, k) => (k ? ctx.lineTo(p.x, p.y) : ctx.moveTo(p.x, p.y)));
      if (this.cursor) ctx.lineTo(this.cursor.x, this.cursor.y);
      ctx.stroke();
      ctx.fillStyle = "#fff";
      for (const p of pts) ctx.fillRect(p.x - 3, p.y - 3, 6, 6);
    }
    if (this.cursor && !this.readOnly && (this.tool === "brush" || this.tool === "eraser")) {
      ctx.beginPath();
      ctx.arc(this.cursor.x, this.cursor.y, this.brushPx, 0, 2 * Math.PI);
      ctx.strokeStyle = this.tool === "eraser" ? "#fff" : rgb(this.config.parts[this.part - 1].color);
      ctx.lineWidth = 2;
      ctx.setLineDash(this.tool === "eraser" ? [4, 3] : []);
      ctx.stroke();
      ctx.setLineDash([]);
    } else if (this.cursor && !this.readOnly) {
      ctx.strokeStyle = "#fff";
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.moveTo(this.cursor.x - 8, this.cursor.y);
      ctx.lineTo(this.cursor.x + 8, this.cursor.y);
      ctx.moveTo(this.cursor.x, this.cursor.y - 8);
      ctx.lineTo(this.cursor.x, this.cursor.y + 8);
      ctx.stroke();
    }
  }

  private renderOverlay(): void {
    const ctx = this.overlay.getContext("2d")!;
    const image = ctx.createImageData(BOX_SCALE, BOX_SCALE);
    const colors = this.config.parts.map((p) => p.color);
    const data = this.labels.data;
    for (let k = 0; k < data.length; k++) {
      const label = data[k];
      if (!label) continue;
      const c = colors[label - 1];
      image.data.set([c[0], c[1], c[2], 255], 4 * k);
    }
    ctx.putImageData(image, 0, 0);
    this.overlayDirty = false;
  }

  // --- Editor ----------------------------------------------------------------------------------------------

  /** Parts the person obviously has (the server's rule) but that have no pixels. */
  missingParts(): string[] {
    const counts = this.labels.counts(this.config.parts.length);
    return (this.task.expected_parts ?? []).filter((p) => counts[p] === 0).map((p) => this.config.parts[p - 1].name);
  }

  async check(): Promise<boolean> {
    if (this.labels.counts(this.config.parts.length)[0] === BOX_SCALE * BOX_SCALE) {
      await ask("Nothing painted", "Paint at least one visible body part before submitting.", ["Back to work"]);
      return false;
    }
    const missing = this.missingParts();
    if (!missing.length) return true;
    const answer = await ask("Some parts are empty",
      `This person seems to show ${missing.join(", ")}, but you marked none of it. ` +
      "Submit anyway if they are hidden or outside the box.", ["Go back", "Submit anyway"]);
    return answer === "Submit anyway";
  }

  result(): unknown {
    return { dp_masks: this.labels.toDpMasks(this.config.parts.length) };
  }

  async flush(): Promise<void> {
    await this.saver?.flush();
  }

  get hasUnsaved(): boolean {
    return this.saver?.hasUnsaved ?? false;
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
