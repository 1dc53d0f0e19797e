// Counters the browser tests and the UI latency benchmark read from the page (window.__viewClicks, ...). They are
// compiled in only by the test build (`npm run build-test`, into dist-test/, which the test suite serves); in the
// production build __TEST_HOOKS__ is false and these calls are dropped.

declare const __TEST_HOOKS__: boolean;

declare global {
  interface Window {
    /** Milliseconds from each click on a view to the frame that shows the markers. */
    __clickLatencies?: number[];
    /** Clicks on views handled so far, on the part or not. */
    __viewClicks?: number;
    /** Clicks on views that did not count because the current part's pictures were not shown yet. */
    __ignoredClicks?: number;
    /** When set, how long stage 2 waits after a click before the next point (a test sets it long or zero). */
    __advanceMs?: number;
  }
}

export function countClick(kind: "__viewClicks" | "__ignoredClicks"): void {
  if (__TEST_HOOKS__) window[kind] = (window[kind] ?? 0) + 1;
}

export function recordLatency(ms: number): void {
  if (__TEST_HOOKS__) (window.__clickLatencies ??= []).push(ms);
}

export function advanceDelay(ms: number): number {
  return __TEST_HOOKS__ && window.__advanceMs !== undefined ? window.__advanceMs : ms;
}
