// Small DOM helpers.

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number | boolean | undefined> = {},
  ...children: (Node | string | null | undefined)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (key === "text") node.textContent = String(value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

export function rgb(color: [number, number, number], alpha = 1): string {
  return alpha === 1 ? `rgb(${color.join(",")})` : `rgba(${color.join(",")},${alpha})`;
}

/** A modal question; resolves with the label of the button pressed. The first button is the cautious one (go
 *  back, cancel): Escape always answers it, never the one that acts. */
export function ask(title: string, text: string, buttons: string[]): Promise<string> {
  return new Promise((resolve) => {
    const box = el("div", { class: "modal", role: "dialog", "aria-modal": "true" });
    const row = el("div", { class: "modal-buttons" });
    const close = (answer: string) => {
      overlay.remove();
      window.removeEventListener("keydown", onKey, true);
      resolve(answer);
    };
    buttons.forEach((label, k) => {
      const b = el("button", { class: k === 0 ? "primary" : "", text: label });
      b.addEventListener("click", () => close(label));
      row.append(b);
    });
    box.append(el("h2", { text: title }), el("p", { text }), row);
    const overlay = el("div", { class: "modal-overlay" }, box);
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") {
        e.stopPropagation();
        close(buttons[0]);
      }
    };
    window.addEventListener("keydown", onKey, true);
    document.body.append(overlay);
    (row.firstChild as HTMLButtonElement).focus();
  });
}

/** The shortcut overlay (``?``). */
export function helpOverlay(sections: [string, [string, string][]][]): HTMLElement {
  const body = el("div", { class: "help-body" });
  for (const [title, rows] of sections) {
    const table = el("table");
    for (const [keys, what] of rows) table.append(el("tr", {}, el("td", {}, el("kbd", { text: keys })), el("td", { text: what })));
    body.append(el("section", {}, el("h3", { text: title }), table));
  }
  const overlay = el("div", { class: "help-overlay", hidden: true, id: "help" },
    el("div", { class: "help-box" }, el("h2", { text: "Keyboard shortcuts" }), body,
      el("p", { class: "hint", text: "Press ? or Escape to close." })));
  overlay.addEventListener("click", () => (overlay.hidden = true));
  return overlay;
}

export function isTyping(e: KeyboardEvent): boolean {
  const t = e.target as HTMLElement | null;
  return !!t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
}
