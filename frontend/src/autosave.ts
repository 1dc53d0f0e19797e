// Drafts kept on the server while the annotator works: saved ``delayMs`` after the last change (and at least
// every 4 delays while changes keep coming), so a closed tab or a lost connection loses a few seconds at most.

import { type Api, csrfToken } from "./api";

export class Autosaver {
  private timer: number | undefined;
  private firstDirtyAt = 0;
  private dirty = false;
  private saving: Promise<void> | null = null;
  onError: (error: unknown) => void = () => {};

  constructor(
    private readonly api: Api,
    private readonly url: string,
    private readonly draft: () => unknown,
    private readonly delayMs: number,
    private readonly status: HTMLElement,
    restored = false,
  ) {
    this.show(restored ? "restored from the server" : "no changes yet");
  }

  get hasUnsaved(): boolean {
    return this.dirty;
  }

  changed(): void {
    const now = performance.now();
    if (!this.dirty) this.firstDirtyAt = now;
    this.dirty = true;
    this.show("unsaved changes");
    window.clearTimeout(this.timer);
    const wait = now - this.firstDirtyAt > 4 * this.delayMs ? 0 : this.delayMs;
    this.timer = window.setTimeout(() => void this.flush(), wait);
  }

  async flush(): Promise<void> {
    window.clearTimeout(this.timer);
    if (this.saving) await this.saving;
    if (!this.dirty) return;
    this.dirty = false;
    this.show("saving…");
    this.saving = (async () => {
      try {
        await this.api.json("PUT", this.url, { draft: this.draft() });
        this.show(`saved ${new Date().toLocaleTimeString()}`);
        this.status.dataset.saved = String(Date.now());
      } catch (error) {
        this.dirty = true;
        this.show("not saved");
        this.onError(error);
      } finally {
        this.saving = null;
      }
    })();
    await this.saving;
  }

  /** Best effort when the page goes away with changes not yet saved. */
  beacon(): void {
    if (!this.dirty) return;
    void fetch(this.url, {
      method: "PUT",
      keepalive: true,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify({ draft: this.draft() }),
    }).catch(() => {});
  }

  stop(): void {
    window.clearTimeout(this.timer);
  }

  private show(text: string): void {
    this.status.textContent = `Draft: ${text}`;
  }
}
