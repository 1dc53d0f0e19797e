// The jobs page: lists the jobs you may see, refreshes while any is unfinished, starts new ones.
(function () {
  "use strict";
  const rows = document.getElementById("job-rows");
  const banner = document.getElementById("banner");
  const FINISHED = new Set(["succeeded", "failed", "cancelled"]);

  function showBanner(text) {
    banner.textContent = text;
    banner.hidden = !text;
  }

  function cell(tr, content, cls) {
    const td = document.createElement("td");
    if (cls) td.className = cls;
    if (content instanceof Node) td.appendChild(content); else td.textContent = content;
    tr.appendChild(td);
  }

  function link(href, text) {
    const a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    return a;
  }

  function render(jobs) {
    rows.replaceChildren();
    if (!jobs.length) {
      const tr = document.createElement("tr");
      cell(tr, "No jobs yet.", "muted");
      tr.firstChild.colSpan = 8;
      rows.appendChild(tr);
      return;
    }
    for (const job of jobs) {
      const tr = document.createElement("tr");
      tr.dataset.jobId = job.id;
      tr.dataset.state = job.state;
      cell(tr, link(`/jobs/${job.id}/`, String(job.id)));
      cell(tr, job.title);
      const state = document.createElement("span");
      state.className = `state state-${job.state}`;
      state.textContent = job.state;
      cell(tr, state);
      const bar = document.createElement("span");
      bar.className = "bar";
      bar.title = `${job.progress.toFixed(0)}%`;
      const fill = document.createElement("span");
      fill.style.width = `${job.progress}%`;
      bar.appendChild(fill);
      const wrap = document.createElement("span");
      wrap.append(bar, ` ${job.progress.toFixed(0)}%`);
      cell(tr, wrap, "progress");
      cell(tr, job.error || job.message, job.error ? "message error" : "message");
      cell(tr, job.created_by || "system");
      cell(tr, new Date(job.created_at).toLocaleString());
      cell(tr, job.result_url ? link(job.result_url, "download") : "");
      rows.appendChild(tr);
    }
  }

  let timer = null;
  async function refresh() {
    clearTimeout(timer);
    let delay = 5000;
    try {
      const resp = await fetch("/api/jobs", { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (resp.status === 401 || resp.status === 403) {
        window.location.href = "/login/?next=/jobs/";
        return;
      }
      if (!resp.ok) throw new Error(`server answered ${resp.status}`);
      const page = await resp.json();
      render(page.results);
      showBanner("");
      if (page.results.some((j) => !FINISHED.has(j.state))) delay = 1000;
    } catch (err) {
      showBanner(`Cannot reach the server (${err.message}); retrying…`);
    }
    timer = setTimeout(refresh, delay);
  }

  for (const form of document.querySelectorAll("form[data-start-kind]")) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = form.querySelector("button");
      const params = {};
      for (const input of form.querySelectorAll("input[name], select[name]")) {
        if (input.type === "checkbox") params[input.name] = input.checked;
        else if (input.type === "number") params[input.name] = Number(input.value);
        else params[input.name] = input.value;
      }
      button.disabled = true;
      try {
        const resp = await fetch("/api/jobs", {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRFToken": window.csrfToken() },
          body: JSON.stringify({ kind: form.dataset.startKind, params }),
        });
        if (!resp.ok) {
          const text = await resp.text();
          let reason = text || `server answered ${resp.status}`;
          try {  // {"params": ["..."]} or {"detail": "..."}: the reasons, not the JSON
            const body = JSON.parse(text);
            reason = body.detail || Object.values(body).flat().join("; ") || reason;
          } catch (_) { /* not JSON */ }
          throw new Error(reason);
        }
        showBanner("");
      } catch (err) {
        showBanner(`Could not start the job: ${err.message}`);
      } finally {
        button.disabled = false;
        refresh();
      }
    });
  }
  refresh();
})();
