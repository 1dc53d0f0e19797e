// The REST API from the browser: JSON in and out, Django's CSRF token, and patience with the network. A call
// that fails for want of a connection (or a 502/503/504 from a proxy or a restarting server) shows the banner
// and is retried until it goes through; work is never dropped. A refusal (4xx) is an ApiError with the
// server's reason and the field at fault.

export class ApiError extends Error {
  constructor(
    message: string,
    public readonly status: number,
    public readonly field?: string,
    /** The server's code for what the client should do, e.g. "lease_lost": the task is no longer yours. */
    public readonly code?: string,
  ) {
    super(message);
  }

  get leaseLost(): boolean {
    return this.code === "lease_lost";
  }
}

const RETRYABLE = new Set([502, 503, 504]);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Django's CSRF token, from its cookie: every unsafe request sends it. */
export function csrfToken(): string {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export type Banner = (message: string | null) => void;

export class Api {
  /** Calls waiting for the network, shown in the banner. */
  private waiting = 0;

  constructor(private readonly banner: Banner) {}

  async json<T = unknown>(method: string, url: string, body?: unknown): Promise<{ status: number; data: T | null }> {
    const response = await this.fetchRetrying(url, {
      method,
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
    if (response.status === 204) return { status: 204, data: null };
    const text = await response.text();
    let data: unknown = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = { detail: text.slice(0, 200) };
    }
    if (!response.ok) {
      const detail = (data as { detail?: string; field?: string; code?: string }) ?? {};
      let message = detail.detail ?? `the server answered ${response.status}`;
      if (response.status === 401 || (response.status === 403 && /credentials|authenticat/i.test(message)))
        message = "You are signed out (the session ended). Sign in again in another tab, then retry.";
      throw new ApiError(message, response.status, detail.field, detail.code);
    }
    return { status: response.status, data: data as T };
  }

  async binary(url: string): Promise<ArrayBuffer> {
    const response = await this.fetchRetrying(url, { credentials: "same-origin" });
    if (!response.ok) {
      let message = `${url}: the server answered ${response.status}`;
      try {
        message = (await response.json()).detail ?? message;
      } catch {
        /* not JSON */
      }
      throw new ApiError(message, response.status);
    }
    return response.arrayBuffer();
  }

  private async fetchRetrying(url: string, init: RequestInit): Promise<Response> {
    let delay = 500;
    let counted = false;
    try {
      for (;;) {
        let response: Response | null = null;
        try {
          response = await fetch(url, init);
        } catch {
          response = null; // no connection
        }
        if (response && !RETRYABLE.has(response.status)) return response;
        if (!counted) {
          counted = true;
          this.waiting++;
        }
        const why = response ? `The server is not answering (${response.status})` : "The connection is lost";
        this.banner(`${why}; retrying in ${Math.round(delay / 1000)} s. Your work is kept in this page.`);
        await sleep(delay);
        delay = Math.min(delay * 2, 8000);
      }
    } finally {
      if (counted) {
        this.waiting--;
        if (this.waiting === 0) this.banner(null);
      }
    }
  }
}
