// Coordinates. Image: pixels of the photo, (0, 0) its top-left corner. Box frame: DensePose's, the person's
// box stretched to BOX_SCALE x BOX_SCALE (x = x0 + dp_x * w / 256, as the server's pipeline/coco/densepose.py
// documents). Screen: CSS pixels of a canvas, related to the image by a zoom and a pan.

export type Point = { x: number; y: number };
export type Box = [number, number, number, number]; // x, y, w, h in image pixels

export const BOX_SCALE = 256;

export function boxToImage(box: Box, p: Point): Point {
  const [x0, y0, w, h] = box;
  return { x: x0 + (p.x * w) / BOX_SCALE, y: y0 + (p.y * h) / BOX_SCALE };
}

export function imageToBox(box: Box, p: Point): Point {
  const [x0, y0, w, h] = box;
  return { x: ((p.x - x0) * BOX_SCALE) / w, y: ((p.y - y0) * BOX_SCALE) / h };
}

/** screen = image * scale + (tx, ty) */
export class ViewTransform {
  constructor(
    public scale = 1,
    public tx = 0,
    public ty = 0,
  ) {}

  toScreen(p: Point): Point {
    return { x: p.x * this.scale + this.tx, y: p.y * this.scale + this.ty };
  }

  toImage(p: Point): Point {
    return { x: (p.x - this.tx) / this.scale, y: (p.y - this.ty) / this.scale };
  }

  /** Zoom by ``factor`` keeping the image point under ``screen`` where it is. */
  zoomAt(screen: Point, factor: number, min = 0.05, max = 64): void {
    const anchor = this.toImage(screen);
    this.scale = Math.min(max, Math.max(min, this.scale * factor));
    this.tx = screen.x - anchor.x * this.scale;
    this.ty = screen.y - anchor.y * this.scale;
  }

  pan(dx: number, dy: number): void {
    this.tx += dx;
    this.ty += dy;
  }

  /** Show the image rectangle ``rect`` (x, y, w, h) centred in a viewport, with ``margin`` of it around. */
  fit(rect: Box, viewport: { width: number; height: number }, margin = 0.15): void {
    const [x, y, w, h] = rect;
    const mw = w * (1 + 2 * margin);
    const mh = h * (1 + 2 * margin);
    this.scale = Math.min(viewport.width / mw, viewport.height / mh);
    this.tx = viewport.width / 2 - (x + w / 2) * this.scale;
    this.ty = viewport.height / 2 - (y + h / 2) * this.scale;
  }
}
