// w2t-bkin dashboard: the batch form, cancel, and live progress by polling /api/batches/<id>.
"use strict";

const csrf = () => document.querySelector('meta[name="csrf-token"]').content;
const POLL_MS = 500;

async function post(url, body) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
    body: JSON.stringify(body || {}),
    credentials: "same-origin",
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = Array.isArray(data.detail)
      ? data.detail.map((d) => `${d.loc.slice(1).join(".")}: ${d.msg}`).join("; ")
      : "";
    throw new Error(data.error ? data.error + (data.hint ? ` (${data.hint})` : "") : detail || response.statusText);
  }
  return data;
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key === "style") node.style.cssText = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

const badge = (state) => el("span", { class: `badge state-${state.replace(/ /g, "-")}` }, state);

function renderBatch(box, batch) {
  const done = batch.n_sessions ? batch.n_finished / batch.n_sessions : 0;
  const title = batch.final ? "Batch finished" : "Batch running";
  const head = el("h2", {}, `${title} `, badge(batch.state));
  const summary = el("p", { class: "batch-summary" },
    `${batch.n_finished} of ${batch.n_sessions} sessions finished · ${batch.elapsed_s.toFixed(1)} s`);
  const bar = el("div", { class: "bar", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100",
                          "aria-valuenow": String(Math.round(done * 100)) },
                 el("span", { style: `width: ${(done * 100).toFixed(1)}%` }));
  const list = el("ul", { class: "sessions" });
  for (const s of batch.sessions) {
    const label = s.state === "running" ? `${s.key}: ${s.phase || "starting"}` : s.key;
    const right = el("span", {}, badge(s.state), s.elapsed_s !== null ? ` ${s.elapsed_s.toFixed(1)} s` : "");
    const item = el("li", { "data-key": s.key, "data-state": s.state },
      el("a", { href: `/sessions/${s.key}` }, label), right);
    if (s.state === "running" || s.fraction > 0) {
      item.append(el("div", { class: "session-bar" }, el("span", { style: `width: ${(s.fraction * 100).toFixed(0)}%` })));
    }
    if (s.error) item.append(el("div", { class: "failure-text", style: "grid-column: 1 / -1" }, s.error));
    list.append(item);
  }
  box.replaceChildren(head, summary, bar, list);
  if (batch.message) box.append(el("p", { class: "batch-message" }, batch.message));
  for (const problem of batch.problems) box.append(el("p", { class: "problems" }, problem));
  if (!batch.final && document.body.dataset.readOnly !== "true") {
    const cancel = el("button", { type: "button", class: "secondary", id: "cancel" }, "Cancel batch");
    cancel.disabled = batch.cancel_requested;
    cancel.addEventListener("click", async () => {
      cancel.disabled = true;
      try { await post(`/api/batches/${batch.batch_id}/cancel`); } catch (err) { box.append(el("p", { class: "failure-text" }, err.message)); }
    });
    box.append(cancel);
  } else if (batch.final && batch.run_id) {
    box.append(el("p", {}, "Recorded as run ", el("a", { href: `/runs/${batch.run_id}` }, batch.run_id.slice(0, 8)),
                  " · ", el("a", { href: "/" }, "back to the sessions")));
  }
}

async function watch(box, batchId) {
  box.hidden = false;
  box.dataset.batch = batchId;
  for (;;) {
    let batch;
    try {
      const response = await fetch(`/api/batches/${batchId}`, { credentials: "same-origin" });
      if (!response.ok) throw new Error(response.statusText);
      batch = await response.json();
    } catch (err) {
      await new Promise((r) => setTimeout(r, POLL_MS * 4));
      continue;
    }
    renderBatch(box, batch);
    if (batch.final) {
      refreshBatchTable();
      box.dataset.final = "true";
      const start = document.getElementById("start");
      if (start) start.disabled = false;
      return batch;
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

async function refreshBatchTable() {
  const body = document.querySelector("#batches tbody");
  if (!body) return;
  const response = await fetch("/api/batches", { credentials: "same-origin" });
  if (!response.ok) return;
  const rows = (await response.json()).map((b) => {
    const counts = Object.entries(b.counts).sort().map(([state, n]) => `${n} ${state}`).join(", ");
    const run = b.run_id ? el("a", { href: `/runs/${b.run_id}` }, b.run_id.slice(0, 8)) : "";
    return el("tr", {},
      el("td", { "data-label": "batch" }, b.batch_id), el("td", { "data-label": "state" }, badge(b.state)),
      el("td", { "data-label": "selection" }, `${b.request.subject}/${b.request.session}`),
      el("td", { "data-label": "sessions" }, counts), el("td", { "data-label": "run" }, run));
  });
  if (rows.length) body.replaceChildren(...rows);
}

function formRequest(form) {
  const data = new FormData(form);
  const number = (name) => (data.get(name) ? Number(data.get(name)) : null);
  return {
    subject: data.get("subject") || "*",
    session: data.get("session") || "*",
    jobs: number("jobs"),
    executor: data.get("executor") || null,
    retries: number("retries"),
    config: data.get("config") || "",
    overrides: data.get("overrides") || "",
    force: data.get("force") === "on",
  };
}

document.addEventListener("DOMContentLoaded", () => {
  const box = document.getElementById("live");
  const form = document.getElementById("batch-form");
  if (form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const error = document.getElementById("form-error");
      const start = document.getElementById("start");
      error.textContent = "";
      start.disabled = true;
      try {
        const started = await post("/api/batches", formRequest(form));
        delete box.dataset.final;
        watch(box, started.batch_id);
      } catch (err) {
        error.textContent = err.message;
        start.disabled = false;
      }
    });
  }
  for (const button of document.querySelectorAll("button.run-one")) {
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        await post("/api/batches", { subject: button.dataset.subject, session: button.dataset.session, force: true });
        window.location.href = "/batches";
      } catch (err) {
        button.after(el("span", { class: "failure-text" }, ` ${err.message}`));
        button.disabled = false;
      }
    });
  }
  const filter = document.getElementById("state-filter");
  if (filter) {
    filter.addEventListener("change", () => {
      for (const row of document.querySelectorAll("#sessions tbody tr")) {
        row.hidden = filter.value !== "" && row.dataset.state !== filter.value;
      }
    });
  }
  if (box && box.dataset.batch) {
    watch(box, box.dataset.batch).then(() => { if (window.location.pathname === "/") setTimeout(() => window.location.reload(), 1500); });
  }
});
