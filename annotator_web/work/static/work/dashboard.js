// Queue dashboard buttons: create tasks, pause, resume (admin API), then reload the numbers.
(function () {
  "use strict";
  const banner = document.getElementById("banner");
  function csrfToken() {
    const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
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
          headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
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
