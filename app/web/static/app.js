// Enhancements only: every page works without this script.
"use strict";

// The jobs list filters as you type (the search form also works by submitting it).
(function filterJobs() {
  const box = document.querySelector("input[data-filter]");
  if (!box) return;
  const items = document.querySelectorAll(box.dataset.filter);
  const none = document.getElementById("no-match");
  box.addEventListener("input", () => {
    const words = box.value.toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    items.forEach((item) => {
      const text = item.dataset.text || "";
      const match = words.every((w) => text.includes(w));
      item.hidden = !match;
      if (match) shown += 1;
    });
    if (none) none.hidden = shown > 0;
  });
})();

// A submission's page follows its progress: the DAG's colours, each step's row, and the progress bar.
(function followSubmission() {
  const root = document.getElementById("submission");
  if (!root || root.dataset.done === "true") return;
  const url = root.dataset.statusUrl;
  const finished = ["Complete", "Error", "Crash", "Cancelled"];
  let delay = 1000;

  function seconds(started, ended) {
    if (!started) return "—";
    const s = ((ended ? Date.parse(ended) : Date.now()) - Date.parse(started)) / 1000;
    if (s < 60) return Math.max(s, 0).toFixed(1) + " s";
    const m = Math.floor(s / 60);
    return m < 60 ? m + " min " + Math.floor(s % 60) + " s" : Math.floor(m / 60) + " h " + (m % 60) + " min";
  }

  function setState(element, prefix, state) {
    element.classList.forEach((c) => { if (c.startsWith(prefix)) element.classList.remove(c); });
    element.classList.add(prefix + state);
  }

  function show(status) {
    for (const step of status.steps) {
      const node = document.querySelector('#dag .node[data-step="' + CSS.escape(step.name) + '"]');
      if (node) {
        setState(node, "state-", step.state);
        node.querySelector(".step-state").textContent = step.state;
        node.querySelector("title").textContent = step.name + ": " + step.state;
      }
      const row = document.querySelector('#steps tr[data-step="' + CSS.escape(step.name) + '"]');
      if (row) {
        const badge = row.querySelector(".state .badge");
        setState(badge, "state-", step.state);
        badge.textContent = step.state;
        row.querySelector(".duration").textContent = seconds(step.started, step.finished);
        row.querySelector(".attempts").textContent = step.attempts;
      }
    }
    const state = document.getElementById("state");
    setState(state, "state-", status.state);
    state.textContent = status.state;
    document.getElementById("progress").value = status.progress.done;
    document.getElementById("progress-text").textContent =
      status.progress.done + " of " + status.progress.total + " steps finished";
    document.getElementById("message").textContent = status.message;
  }

  async function poll() {
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
      if (response.ok) {
        const status = await response.json();
        show(status);
        if (finished.includes(status.state)) {
          window.location.reload(); // the results, and no more Cancel button
          return;
        }
        delay = 1000;
      } else {
        delay = Math.min(delay * 2, 10000);
      }
    } catch (error) {
      delay = Math.min(delay * 2, 10000); // the service restarting, or the network: try again later
    }
    window.setTimeout(poll, delay);
  }
  window.setTimeout(poll, delay);
})();
