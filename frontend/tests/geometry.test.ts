import { describe, expect, it } from "vitest";
import { boxToImage, imageToBox, ViewTransform } from "../src/geometry";
import { UndoStack } from "../src/undo";

describe("coordinates", () => {
  it("maps the box frame to the image as the exporter documents (x = x0 + dp_x * w / 256)", () => {
    const box: [number, number, number, number] = [100, 50, 64, 128];
    expect(boxToImage(box, { x: 0, y: 0 })).toEqual({ x: 100, y: 50 });
    expect(boxToImage(box, { x: 256, y: 128 })).toEqual({ x: 164, y: 114 });
    const p = imageToBox(box, { x: 123.25, y: 77.5 });
    expect(boxToImage(box, p).x).toBeCloseTo(123.25, 10);
    expect(boxToImage(box, p).y).toBeCloseTo(77.5, 10);
  });

  it("zooms about the cursor and fits a box with a margin", () => {
    const t = new ViewTransform(2, 10, 20);
    const before = t.toImage({ x: 300, y: 200 });
    t.zoomAt({ x: 300, y: 200 }, 1.5);
    expect(t.scale).toBe(3);
    const after = t.toImage({ x: 300, y: 200 });
    expect(after.x).toBeCloseTo(before.x, 10);
    expect(after.y).toBeCloseTo(before.y, 10);
    t.fit([100, 100, 200, 400], { width: 800, height: 520 }, 0.15);
    const top = t.toScreen({ x: 200, y: 100 - 0.15 * 400 });
    const bottom = t.toScreen({ x: 200, y: 500 + 0.15 * 400 });
    expect(top.y).toBeCloseTo(0, 6);
    expect(bottom.y).toBeCloseTo(520, 6);
    expect(top.x).toBeCloseTo(400, 6);
  });
});

describe("UndoStack", () => {
  it("undoes and redoes in order, and a new change drops the redo branch", () => {
    const stack = new UndoStack<number>();
    let state = 0;
    for (const next of [1, 2, 3]) {
      stack.push(state);
      state = next;
    }
    state = stack.undo(state)!;
    state = stack.undo(state)!;
    expect(state).toBe(1);
    state = stack.redo(state)!;
    expect(state).toBe(2);
    stack.push(state);
    state = 9;
    expect(stack.canRedo).toBe(false);
    expect(stack.undo(state)).toBe(2);
    expect(stack.undo(2)).toBe(1);
    expect(stack.undo(1)).toBe(0);
    expect(stack.undo(0)).toBeUndefined();
  });

  it("keeps at most its limit of steps", () => {
    const stack = new UndoStack<number>(3);
    for (let i = 0; i < 10; i++) stack.push(i);
    expect([stack.undo(10), stack.undo(9), stack.undo(8), stack.undo(7)]).toEqual([9, 8, 7, undefined]);
  });
});
