// A canvas that shows an image under a zoom and a pan: wheel zooms about the cursor; the middle button, or
// the left button while Space is held (or always, with ``dragPans``), pans.

import { ViewTransform, type Box, type Point } from "./geometry";

export class ImageCanvas {
  readonly canvas: HTMLCanvasElement;
  readonly ctx: CanvasRenderingContext2D;
  readonly transform = new ViewTransform();
  spaceHeld = false;
  dragPans = false;
  private panning: { x: number; y: number } | null = null;
  private observer: ResizeObserver;
  private fitted = false;
  /** Zoomed or panned by the user since the last fit: a resize then keeps what is at the centre. */
  private moved = false;

  constructor(
    parent: HTMLElement,
    private readonly fitRect: () => Box,
    private readonly paint: (ctx: CanvasRenderingContext2D) => void,
    signal: AbortSignal,
  ) {
    this.canvas = document.createElement("canvas");
    this.canvas.className = "image-canvas";
    parent.appendChild(this.canvas);
    this.ctx = this.canvas.getContext("2d")!;
    this.observer = new ResizeObserver(() => this.resize());
    this.observer.observe(parent);
    signal.addEventListener("abort", () => this.observer.disconnect());
    this.canvas.addEventListener(
      "wheel",
      (e) => {
        e.preventDefault();
        this.transform.zoomAt(this.local(e), Math.exp(-e.deltaY * 0.0015));
        this.moved = true;
        this.draw();
      },
      { passive: false, signal },
    );
    this.canvas.addEventListener(
      "pointerdown",
      (e) => {
        if (e.button === 1 || (e.button === 0 && (this.spaceHeld || this.dragPans))) {
          e.preventDefault();
          this.panning = { x: e.clientX, y: e.clientY };
          this.canvas.setPointerCapture(e.pointerId);
          e.stopImmediatePropagation();
        }
      },
      { signal },
    );
    this.canvas.addEventListener(
      "pointermove",
      (e) => {
        if (!this.panning) return;
        this.transform.pan(e.clientX - this.panning.x, e.clientY - this.panning.y);
        this.panning = { x: e.clientX, y: e.clientY };
        this.moved = true;
        this.draw();
        e.stopImmediatePropagation();
      },
      { signal },
    );
    const stop = (e: PointerEvent) => {
      if (this.panning) {
        this.panning = null;
        e.stopImmediatePropagation();
      }
    };
    this.canvas.addEventListener("pointerup", stop, { signal });
    this.canvas.addEventListener("pointercancel", stop, { signal });
    this.canvas.addEventListener("auxclick", (e) => e.preventDefault(), { signal });
  }

  get isPanning(): boolean {
    return this.panning !== null;
  }

  /** Event position in CSS pixels of the canvas. */
  local(e: MouseEvent): Point {
    const r = this.canvas.getBoundingClientRect();
    return { x: e.clientX - r.left, y: e.clientY - r.top };
  }

  toImage(e: MouseEvent): Point {
    return this.transform.toImage(this.local(e));
  }

  fit(): void {
    this.transform.fit(this.fitRect(), { width: this.canvas.clientWidth, height: this.canvas.clientHeight });
    this.moved = false;
    this.draw();
  }

  /** The panel changed size: fit again, or, after the user's own zoom or pan, keep the centre where it is. */
  resize(): void {
    const parent = this.canvas.parentElement!;
    const dpr = window.devicePixelRatio || 1;
    const w = parent.clientWidth;
    const h = parent.clientHeight;
    if (w === 0 || h === 0) return;
    const before = { w: parseFloat(this.canvas.style.width) || w, h: parseFloat(this.canvas.style.height) || h };
    this.canvas.style.width = `${w}px`;
    this.canvas.style.height = `${h}px`;
    this.canvas.width = Math.round(w * dpr);
    this.canvas.height = Math.round(h * dpr);
    if (!this.fitted || !this.moved) {
      this.fitted = true;
      this.fit();
    } else {
      this.transform.pan((w - before.w) / 2, (h - before.h) / 2);
      this.draw();
    }
  }

  draw(): void {
    const dpr = window.devicePixelRatio || 1;
    const ctx = this.ctx;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#1d2029";
    ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    const t = this.transform;
    ctx.setTransform(dpr * t.scale, 0, 0, dpr * t.scale, dpr * t.tx, dpr * t.ty);
    this.paint(ctx);
  }

  /** Screen-space drawing (markers of constant size) after the image-space paint. */
  screenSpace(): void {
    const dpr = window.devicePixelRatio || 1;
    this.ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  }
}

export function loadImage(url: string): Promise<HTMLImageElement> {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error(`could not load the image ${url}`));
    img.src = url;
  });
}

/** Dim everything outside the person's box. */
export function dimOutside(ctx: CanvasRenderingContext2D, img: HTMLImageElement, box: Box, scale: number): void {
  const [x, y, w, h] = box;
  ctx.save();
  ctx.fillStyle = "rgba(15, 17, 24, 0.55)";
  ctx.beginPath();
  ctx.rect(0, 0, img.naturalWidth, img.naturalHeight);
  ctx.rect(x, y, w, h);
  ctx.fill("evenodd");
  ctx.strokeStyle = "#ffd84a";
  ctx.lineWidth = 1.5 / scale;
  ctx.setLineDash([6 / scale, 4 / scale]);
  ctx.strokeRect(x, y, w, h);
  ctx.restore();
}
