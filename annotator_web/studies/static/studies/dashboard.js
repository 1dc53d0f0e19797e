// Queue dashboard buttons: create tasks, pause, resume; release, reassign, requeue, retry and prioritise single tasks
// (admin API), then reload the numbers.
(function () {
  "use strict";
  const banner = document.getElementById("banner");
  const DONE = { priority: "priority set", assign: "reassigned", release: "released", requeue: "requeued",
    retry: "its submission is being processed again" };
  // what the last action did, shown after the page reloads with the new numbers
  const done = sessionStorage.getItem("queues-done");
  if (done) {
    sessionStorage.removeItem("queues-done");
    const note = document.createElement("p");
    note.className = "notice success";
    note.setAttribute("role", "status");
    note.textContent = done;
    document.querySelector("main").prepend(note);
  }
  async function post(url, body) {
    const resp = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": window.csrfToken() },
      body: JSON.stringify(body),
    });
    if (!resp.ok) throw new Error((await resp.json()).detail || `server answered ${resp.status}`);
  }
  // One task: release, reassign, requeue, set its priority.
  for (const button of document.querySelectorAll("[data-task-action]")) {
    button.addEventListener("click", async () => {
      const row = button.closest("[data-task]");
      const task = Number(row.dataset.task);
      const action = button.dataset.taskAction;
      button.disabled = true;
      try {
        if (action === "priority") {
          await post("/api/tasks/priority", { tasks: [task], priority: Number(row.querySelector(".priority").value) });
        } else if (action === "assign") {
          await post(`/api/tasks/${task}/assign`, { username: row.querySelector(".assignee").value });
        } else {
          await post(`/api/tasks/${task}/${action}`, action === "requeue" && row.dataset.state === "review" ? { comment: "requeued by an admin" } : {});
        }
        const who = action === "assign" ? ` to ${row.querySelector(".assignee").value}` : "";
        sessionStorage.setItem("queues-done", `Task ${task}: ${DONE[action]}${who}.`);
        window.location.reload();
      } catch (err) {
        banner.textContent = `Could not ${action} task ${task}: ${err.message}`;
        banner.hidden = false;
        button.disabled = false;
      }
    });
  }
  for (const button of document.querySelectorAll("[data-action]")) {
    button.addEventListener("click", async () => {
      const project = button.closest("[data-project]").dataset.project;
      const action = button.dataset.action;
      if (action === "pause" && !window.confirm(`Pause ${project}? Annotators get no new task of it until it is resumed.`))
        return;
      button.disabled = true;
      try {
        const resp = await fetch(`/api/projects/${encodeURIComponent(project)}/${action}`, {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRFToken": window.csrfToken() },
          body: JSON.stringify(action === "tasks" ? { stage: 1 } : {}),
        });
        if (!resp.ok) throw new Error((await resp.json()).detail || `server answered ${resp.status}`);
        const answer = await resp.json();
        sessionStorage.setItem("queues-done", action === "tasks" ? `${project}: ${answer.created} stage-1 tasks created.`
          : `${project}: ${action === "pause" ? "paused" : "resumed"}.`);
        window.location.reload();
      } catch (err) {
        banner.textContent = `Could not ${action} ${project}: ${err.message}`;
        banner.hidden = false;
        button.disabled = false;
      }
    });
  }
})();
