// Undo/redo of whole states (a 256x256 label map is 64 KB: snapshots are simpler and safer than diffs).

export class UndoStack<T> {
  private past: T[] = [];
  private future: T[] = [];
  constructor(private readonly limit = 200) {}

  /** Call with the state as it was before a change. */
  push(before: T): void {
    this.past.push(before);
    if (this.past.length > this.limit) this.past.shift();
    this.future = [];
  }

  /** The state to go back to, given the current one (kept for redo); undefined when there is none. */
  undo(current: T): T | undefined {
    const previous = this.past.pop();
    if (previous !== undefined) this.future.push(current);
    return previous;
  }

  redo(current: T): T | undefined {
    const next = this.future.pop();
    if (next !== undefined) this.past.push(current);
    return next;
  }

  get canUndo(): boolean {
    return this.past.length > 0;
  }

  get canRedo(): boolean {
    return this.future.length > 0;
  }

  clear(): void {
    this.past = [];
    this.future = [];
  }
}
