// The annotator app: pick a project and a stage, work through the queue (the next task loads without a page
// reload), or review submitted work. Talks to the REST API only.

import "./style.css";
import { Api, ApiError } from "./api";
import { el, helpOverlay, isTyping } from "./dom";
import { MaskEditor } from "./stage1";
import { CorrespondenceEditor } from "./stage2";
import type { Config, Editor, Task } from "./types";

const config: Config = JSON.parse(document.getElementById("app-config")!.textContent!);
const root = document.getElementById("app")!;
const bannerEl = document.getElementById("banner") ?? document.body.appendChild(el("div", { class: "banner" }));

function banner(message: string | null): void {
  bannerEl.hidden = message === null;
  bannerEl.textContent = message ?? "";
  bannerEl.classList.toggle("offline", message !== null);
}

const api = new Api(banner);
const review = config.mode === "review";

// --- the shell: toolbar, workspace, help -----------------------------------------------------------------

const projectSelect = el("select", { id: "project", "aria-label": "project" }) as HTMLSelectElement;
for (const p of config.projects)
  projectSelect.append(el("option", { value: p.name, text: p.name + (p.paused ? " (paused)" : "") }));
const stageSelect = el("select", { id: "stage", "aria-label": "stage" },
  el("option", { value: "1", text: "Stage 1 · part masks" }),
  el("option", { value: "2", text: "Stage 2 · correspondences" })) as HTMLSelectElement;
const startButton = el("button", { class: "primary", id: "start", text: review ? "Start reviewing" : "Start" });
const taskInfo = el("span", { class: "task-info" });
const submitButton = el("button", { class: "primary", id: "submit", hidden: true }, "Submit ", el("kbd", { text: "Ctrl+Enter" }));
const acceptButton = el("button", { class: "primary", id: "accept", hidden: true, text: "Accept" });
const rejectButton = el("button", { class: "danger", id: "reject", hidden: true, text: "Reject…" });
const skipButton = el("button", { id: "skip", hidden: true, title: "this person cannot be annotated: tell an admin why",
  text: "Skip person…" });
const helpButton = el("button", { class: "help-button", title: "Keyboard shortcuts (?)", text: "?" });
const toolbar = el("div", { class: "app-toolbar" }, projectSelect, stageSelect, startButton, taskInfo,
  el("span", { class: "spacer" }), skipButton, submitButton, acceptButton, rejectButton, helpButton);
const notice = el("div", { class: "notice", hidden: true });
const workspace = el("div", { class: "workspace" });
const help = helpOverlay([
  ["Everywhere", [["?", "this help"], ["Ctrl+Enter", review ? "—" : "submit the task"], ["wheel", "zoom"],
    ["middle drag", "pan (or drag with Space held)"], ["Home", "fit the person's box"]]],
  ["Stage 1 · part masks", [["1–9, 0", "parts 1–10"], ["Shift+1–4", "parts 11–14"], ["B P E F", "brush, polygon, eraser, fill (the connected unpainted area of similar colour)"],
    ["[ ]", "brush size (with fill: its colour tolerance)"], ["Enter", "close the polygon (or click its first point, or double-click)"],
    ["Backspace", "drop the last polygon point"], ["Esc", "drop the polygon"], ["O", "overlay opacity"],
    ["Ctrl+Z", "undo"], ["Ctrl+Shift+Z", "redo"]]],
  ["Stage 2 · correspondences", [["click a view", "place the point; the next one shows 0.4 s later (click again meanwhile to move it)"],
    ["Enter", "confirm the model's proposal (the hollow diamond), when there is one"],
    ["N", "not visible / cannot tell"], ["U", "unsure"], ["C", "a point sent back by the reviewer: its answer stands as it was"],
    ["→ Space", "next point"], ["←", "previous point (to correct it)"],
    ["wheel on a view", "zoom that view (drag pans, 1:1 shows it whole)"]]],
  ...(review ? [["Review", [["A", "accept"], ["R", "reject (with a comment)"], ["F", "stage 2: flag the point (a rejection sends back only the flagged points)"],
    ["O", "stage 2: the overview (every answer on the whole body; hover links the image and the body; the points far from their neighbours first)"],
    ["← →", "previous / next point"]]] as [string, [string, string][]]] : []),
]);
root.replaceChildren(toolbar, notice, workspace, help);

let editor: Editor | null = null;
let task: Task | null = null;
let startedAt = 0;

function showNotice(text: string, kind: "info" | "error" = "info"): void {
  notice.hidden = false;
  notice.className = `notice ${kind}`;
  notice.textContent = text;
}

function clearNotice(): void {
  notice.hidden = true;
}

function remember(): void {
  const params = new URLSearchParams({ project: projectSelect.value, stage: stageSelect.value });
  history.replaceState(null, "", `#${params}`);
  localStorage.setItem(`densepose-${config.mode}`, params.toString());
}

function restoreChoice(): boolean {
  const saved = new URLSearchParams(location.hash.slice(1) || localStorage.getItem(`densepose-${config.mode}`) || "");
  const project = saved.get("project");
  if (project && config.projects.some((p) => p.name === project)) projectSelect.value = project;
  if (saved.get("stage") === "2") stageSelect.value = "2";
  return !!location.hash;
}

function closeEditor(): void {
  editor?.destroy();
  editor = null;
  task = null;
  submitButton.hidden = acceptButton.hidden = rejectButton.hidden = skipButton.hidden = true;
  taskInfo.textContent = "";
}

/** What the annotator is told about a model's proposal: who made it, how sure it is, what to do with it. */
function proposalNotice(t: Task, proposal: NonNullable<Task["proposal"]>): string {
  if (t.stage === 1) {
    const sure = (proposal.confidence ?? [])
      .map((c) => `${config.parts[c.part - 1].name} ${Math.round(100 * c.confidence)}%`).join(", ");
    return `A model proposed these part masks: check every part and correct what is wrong (${proposal.source}).` +
      (sure ? ` How sure it is: ${sure}.` : "");
  }
  const n = proposal.points?.length ?? 0;
  return `A model proposed ${n} of ${t.points?.length ?? 0} points, drawn as a hollow diamond: Enter confirms one, ` +
    `a click on a view corrects it. Proposed by: ${proposal.source}.`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** For the reviewer of a resubmission: that it is one, what the earlier review said, and what changed. */
function resubmissionNotice(r: NonNullable<Task["resubmission"]>): string {
  const earlier = r.earlier_review;
  const said = earlier
    ? ` The earlier one was ${earlier.decision === "reject" ? "rejected" : "accepted"} by ${earlier.reviewer ?? "a reviewer"}: ` +
      `“${earlier.comment}”${earlier.points.length ? ` (${plural(earlier.points.length, "point")} flagged)` : ""}.`
    : "";
  const c = r.changes;
  const moved = (c.changed ?? []).filter((a) => a.moved_m !== null).map((a) => `${Math.round((a.moved_m ?? 0) * 100)} cm`);
  const changed = c.parts
    ? (c.parts.length ? `Changed since: ${c.parts.map((p) => `${p.name} ${p.pixels} px`).join(", ")}.` : "No pixel changed since.")
    : `${c.changed?.length ? `${plural(c.changed.length, "answer")} changed` : "No answer changed"}` +
      `${moved.length ? ` (clicks moved ${moved.join(", ")})` : ""}; ${c.unchanged ?? 0} the same.`;
  return `Resubmission (submission ${r.number} of this task).${said} ${changed}`;
}

async function openTask(t: Task): Promise<void> {
  closeEditor();
  task = t;
  const readOnly = review;
  const data = review ? t.submission : t.draft;
  // a model's proposal is where a fresh task starts (the annotator confirms or corrects it)
  const proposal = review ? null : t.proposal;
  const ed = t.stage === 1
    ? new MaskEditor(workspace, t, config, api, readOnly, data?.dp_masks ?? proposal?.dp_masks ?? undefined,
      !data?.dp_masks && !!proposal?.dp_masks)
    : new CorrespondenceEditor(workspace, t, config, api, readOnly, data?.answers, t.draft?.current ?? 0);
  ed.setErrorHandler((error) => {
    if (error instanceof ApiError && error.leaseLost) void taskTaken();
    else showNotice(`The draft was not saved: ${error instanceof ApiError ? error.message : String(error)}`, "error");
  });
  editor = ed;
  startedAt = performance.now();
  const what = t.stage === 1 ? "part masks" : `${t.points?.length ?? 0} points`;
  taskInfo.textContent = `Task ${t.id} · person ${t.person.id} · ${what}`;
  const redo = t.flagged_points?.length ? ` (${t.flagged_points.length} flagged point${t.flagged_points.length > 1 ? "s" : ""} to redo; the others stand)` : "";
  if (t.review_comment && !review) showNotice(`Sent back by a reviewer: ${t.review_comment}${redo}`, "error");
  else if (review && t.resubmission) showNotice(resubmissionNotice(t.resubmission), "error");
  else if (proposal) showNotice(proposalNotice(t, proposal));
  else if (review && t.proposal) {
    const o = t.origins ?? {};
    const what = t.stage === 1 ? "part masks" : "points";
    showNotice(`Pre-annotated by ${t.proposal.source}: of the ${what}, ${o.confirmed ?? 0} are the model's proposal ` +
      `confirmed as it was, ${o.corrected ?? 0} corrected, ${o.click ?? 0} clicked. Check the confirmed ones too.`);
  }
  else clearNotice();
  await ed.start();
  submitButton.hidden = skipButton.hidden = review;
  acceptButton.hidden = rejectButton.hidden = !review;
}

async function next(): Promise<void> {
  remember();
  try {
    await putDownIfSwitching();
  } catch (error) {
    showNotice(`The open task could not be put down: ${error instanceof ApiError ? error.message : error}`, "error");
    return;
  }
  closeEditor();
  workspace.replaceChildren(el("p", { class: "loading", text: "Asking for the next task…" }));
  try {
    const project = projectSelect.value;
    const stage = Number(stageSelect.value);
    const { data } = review
      ? await api.json<Task>("GET", `${config.urls.review_next}?${new URLSearchParams({ project, stage: String(stage) })}`)
      : await api.json<Task>("POST", config.urls.next, { project, stage });
    workspace.replaceChildren();
    if (!data) {
      showNotice(review ? "Nothing is waiting for review in this queue." : "This queue is empty for now: no task to do.");
      workspace.append(el("p", { class: "empty" }, el("button", { text: "Check again", id: "again" })));
      workspace.querySelector("#again")!.addEventListener("click", () => void next());
      return;
    }
    await openTask(data);
  } catch (error) {
    workspace.replaceChildren();
    showNotice(error instanceof ApiError ? error.message : `Something went wrong: ${error}`, "error");
  }
}

/** Switching to another project or stage with a task open: save its draft and put it down, so that it does not
 * stay leased while this annotator works elsewhere (someone else may take it; if nobody has, it comes back). */
async function putDownIfSwitching(): Promise<void> {
  if (!task || review || !editor) return;
  if (task.project === projectSelect.value && String(task.stage) === stageSelect.value) return;
  const leaving = task;
  try {
    await editor.flush();
    await api.json("POST", config.urls.leave.replace("{id}", String(leaving.id)));
  } catch (error) {
    if (!(error instanceof ApiError && error.leaseLost)) throw error; // already not ours: nothing to put down
  }
}

/** The open task is no longer this annotator's (an admin gave it to someone else, or the lease ran out): stop
 * at once, so that no more work goes into it, and move on to the next task. */
async function taskTaken(): Promise<void> {
  if (!task) return;
  const id = task.id;
  closeEditor();
  await nextAfter(`Task ${id} is no longer yours (an admin gave it to someone else, or your lease ran out), so it ` +
    "was closed; changes made to it since the last saved draft are not kept.");
}

/** Load the next task and say what just happened, with whatever the queue has to say. */
async function nextAfter(done: string): Promise<void> {
  await next();
  const kind = notice.classList.contains("error") ? "error" : "info";
  showNotice(notice.hidden ? done : `${done} ${notice.textContent}`, kind);
}

let submitting = false;

async function submit(): Promise<void> {
  if (!editor || !task || review || submitting) return;
  submitting = true; // a double click or a second Ctrl+Enter does nothing while the first is on its way
  submitButton.disabled = true;
  try {
    const open = editor;
    if (!(await open.check())) return;
    await open.flush();
    if (editor !== open) return; // the draft found the task no longer ours: it was closed (taskTaken)
    const storageKey = `densepose-submit-${task.id}`;
    const key = localStorage.getItem(storageKey) ?? `${task.id}-${crypto.randomUUID()}`;
    localStorage.setItem(storageKey, key); // a retry after a lost answer sends the same key: stored once
    await api.json("POST", config.urls.submit.replace("{id}", String(task.id)), {
      key,
      data: editor.result(),
      seconds_spent: (performance.now() - startedAt) / 1000,
    });
    localStorage.removeItem(storageKey);
    await nextAfter(`Task ${task.id} submitted.`);
  } catch (error) {
    if (error instanceof ApiError && error.leaseLost) return void (await taskTaken());
    showNotice(error instanceof ApiError ? `Not submitted: ${error.message}` : `Not submitted: ${error}`, "error");
  } finally {
    submitting = false;
    submitButton.disabled = false;
  }
}

async function decide(decision: "accept" | "reject"): Promise<void> {
  if (!task || !review) return;
  let comment = "";
  const points = decision === "reject" ? (editor?.flaggedPoints?.() ?? []) : [];
  if (decision === "reject") {
    const reason = await askComment(points.length);
    if (reason === null) return;
    comment = reason;
  }
  try {
    await api.json("POST", config.urls.review.replace("{id}", String(task.id)), { decision, comment, points });
    await nextAfter(`Task ${task.id} ${decision === "accept" ? "accepted" : "sent back with your comment"}.`);
  } catch (error) {
    showNotice(error instanceof ApiError ? error.message : String(error), "error");
  }
}

let skipping = false;

/** The annotator cannot annotate this person: they say why, the task goes to an admin, the next one opens. */
async function skipPerson(): Promise<void> {
  if (!editor || !task || review || skipping) return;
  skipping = true;
  try {
    const answer = await askSkipReason();
    if (!answer || !task) return;
    await api.json("POST", config.urls.skip.replace("{id}", String(task.id)), answer);
    await nextAfter(`Task ${task.id} skipped: an admin will see why.`);
  } catch (error) {
    if (error instanceof ApiError && error.leaseLost) return void (await taskTaken());
    showNotice(error instanceof ApiError ? `Not skipped: ${error.message}` : `Not skipped: ${error}`, "error");
  } finally {
    skipping = false;
  }
}

function askSkipReason(): Promise<{ reason: string; note: string } | null> {
  return new Promise((resolve) => {
    const choices = config.skip_reasons.map((r, k) => el("label", { class: "choice" },
      el("input", { type: "radio", name: "skip-reason", value: r.value, checked: k === 0 }), ` ${r.label}`));
    const note = el("textarea", { id: "skip-note", rows: 3, maxlength: 500, placeholder: "A note for the admin (needed for “something else”)" }) as HTMLTextAreaElement;
    const send = el("button", { class: "danger", text: "Skip this person" });
    const cancel = el("button", { class: "primary", text: "Back to work" });
    const hint = el("p", { class: "error", hidden: true, text: "Say what is wrong in the note: “something else” needs one." });
    const overlay = el("div", { class: "modal-overlay" },
      el("div", { class: "modal skip-modal", role: "dialog", "aria-modal": "true" },
        el("h2", { text: "Skip this person: why can it not be annotated?" }), ...choices, note, hint,
        el("div", { class: "modal-buttons" }, cancel, send)));
    const close = (value: { reason: string; note: string } | null) => {
      overlay.remove();
      resolve(value);
    };
    send.addEventListener("click", () => {
      const reason = overlay.querySelector<HTMLInputElement>("input[name=skip-reason]:checked")!.value;
      if (reason === "other" && !note.value.trim()) {
        hint.hidden = false;
        return note.focus();
      }
      close({ reason, note: note.value.trim() });
    });
    cancel.addEventListener("click", () => close(null));
    overlay.addEventListener("keydown", (e) => e.key === "Escape" && close(null)); // Escape always goes back
    document.body.append(overlay);
    cancel.focus();
  });
}

function askComment(flagged: number): Promise<string | null> {
  return new Promise((resolve) => {
    const scope = flagged
      ? `Only the ${flagged} flagged point${flagged > 1 ? "s go" : " goes"} back to be redone; the other answers stand.`
      : "The whole task goes back (flag points with F to send back only those).";
    const text = el("textarea", { id: "reject-comment", rows: 4, placeholder: "What should the annotator fix?" }) as HTMLTextAreaElement;
    const send = el("button", { class: "danger", text: "Reject with this comment" });
    const cancel = el("button", { text: "Cancel" });
    const hint = el("p", { class: "error", hidden: true, text: "Write what the annotator should fix: a rejection needs a comment." });
    const overlay = el("div", { class: "modal-overlay" },
      el("div", { class: "modal" }, el("h2", { text: "Reject: tell the annotator why" }), el("p", { class: "reject-scope", text: scope }),
        text, hint, el("div", { class: "modal-buttons" }, send, cancel)));
    const close = (value: string | null) => {
      overlay.remove();
      resolve(value);
    };
    send.addEventListener("click", () => {
      if (text.value.trim()) return close(text.value.trim());
      hint.hidden = false; // an empty comment says so instead of doing nothing
      text.focus();
    });
    cancel.addEventListener("click", () => close(null));
    overlay.addEventListener("keydown", (e) => e.key === "Escape" && close(null));
    document.body.append(overlay);
    text.focus();
  });
}

startButton.addEventListener("click", () => void next());
submitButton.addEventListener("click", () => void submit());
acceptButton.addEventListener("click", () => void decide("accept"));
rejectButton.addEventListener("click", () => void decide("reject"));
skipButton.addEventListener("click", () => void skipPerson());
helpButton.addEventListener("click", () => (help.hidden = !help.hidden));
window.addEventListener("keydown", (e) => {
  if (e.key === "?" && !isTyping(e)) {
    help.hidden = !help.hidden;
    e.preventDefault();
  } else if (e.key === "Escape" && !help.hidden) help.hidden = true;
  else if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && !document.querySelector(".modal-overlay")) {
    e.preventDefault();
    void submit();
  } else if (review && task && !isTyping(e) && !e.ctrlKey && !e.metaKey && !e.altKey && !document.querySelector(".modal-overlay")) {
    if (e.code === "KeyA") void decide("accept");
    else if (e.code === "KeyR") void decide("reject");
  }
});

// a link to another queue (#project=…&stage=…) opened in this page switches to it
window.addEventListener("hashchange", () => {
  if (restoreChoice()) void next();
});

if (!config.projects.length) showNotice("There is no project yet; an admin creates one.");
else if (restoreChoice()) void next();
