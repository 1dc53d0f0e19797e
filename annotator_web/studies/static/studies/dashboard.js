// Queue dashboard buttons: create tasks, pause, resume; release, reassign, requeue and prioritise single tasks
// (admin API), then reload the numbers.
(function () {
  "use strict";
  const banner = document.getElementById("banner");
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
          await post(`/api/tasks/${task}/${action}`, action === "requeue" ? { comment: "requeued by an admin" } : {});
        }
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
      button.disabled = true;
      try {
        const resp = await fetch(`/api/projects/${encodeURIComponent(project)}/${action}`, {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRFToken": window.csrfToken() },
          body: JSON.stringify(action === "tasks" ? { stage: 1 } : {}),
        });
        if (!resp.ok) throw new Error((await resp.json()).detail || `server answered ${resp.status}`);
        window.location.reload();
      } catch (err) {
        banner.textContent = `Could not ${action} ${project}: ${err.message}`;
        banner.hidden = false;
        button.disabled = false;
      }
    });
  }
})();
