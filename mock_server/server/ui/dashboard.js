// civitai-mock dashboard: polls /_mock/ui/state and redraws. Every value goes in with textContent
// (never innerHTML), so prompts, metadata and tags show as text. No build step, no dependencies.
"use strict";

const params = new URLSearchParams(location.search);
const controlToken = params.get("control_token");
const headers = controlToken ? { "X-Control-Token": controlToken } : {};
const chosen = { tenant: params.get("tenant"), workflow: params.get("workflow") };
let shownVideos = "";

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function row(cells, className) {
  const tr = el("tr", undefined, className);
  for (const cell of cells) {
    const td = cell instanceof Node ? el("td") : el("td", cell);
    if (cell instanceof Node) td.appendChild(cell);
    tr.appendChild(td);
  }
  return tr;
}

function fill(tableId, rows) {
  const body = document.querySelector(`#${tableId} tbody`);
  body.replaceChildren(...rows);
}

function status(text) {
  return el("span", text, `status ${text}`);
}

function time(iso) {
  return iso ? iso.replace("T", " ").replace(/\.\d+Z$/, "Z") : "";
}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: { ...headers, ...(options.headers || {}) } });
  if (!response.ok) throw new Error(`${path} answered ${response.status}`);
  return response.status === 204 ? null : response.json();
}

function drawClock(clock) {
  document.getElementById("clock-now").textContent = time(clock.now);
  document.getElementById("clock-kind").textContent =
    clock.clock === "virtual" ? "virtual clock" : `system clock, speed x${clock.speed}`;
  document.getElementById("clock-buttons").hidden = clock.clock !== "virtual";
}

function drawTenants(state) {
  const list = document.getElementById("tenants");
  list.replaceChildren(...state.tenants.map((tenant) => {
    const item = el("li", `${tenant.name} (${tenant.workflows})`, tenant.key === state.tenant ? "selected" : "");
    item.dataset.key = tenant.key;
    item.addEventListener("click", () => { chosen.tenant = tenant.key; chosen.workflow = null; refresh(); });
    return item;
  }));
  fill("balances", Object.entries(state.balances || {}).map(([account, amount]) => row([account, amount])));
}

function drawWorkflows(state) {
  const current = state.workflow ? state.workflow.id : null;
  fill("workflows", (state.workflows || []).map((w) => {
    const tr = row([time(w.createdAt), el("span", w.id, "mono"), status(w.status), w.kind, w.cost, w.prompt],
                   w.id === current ? "selected" : "");
    tr.dataset.id = w.id;
    tr.addEventListener("click", () => { chosen.workflow = w.id; refresh(); });
    return tr;
  }));
}

function drawVideos(videos) {
  const key = JSON.stringify(videos.map((v) => v.blobId));
  if (key === shownVideos) return; // keep the element (and its playback) while the blob stays the same
  shownVideos = key;
  const box = document.getElementById("videos");
  box.replaceChildren(...videos.map((video) => {
    if (!video.url) return el("p", `${video.step}: withheld (no URL)`, "muted");
    const player = el("video");
    player.controls = true;
    player.preload = "auto";
    player.muted = true;
    player.src = video.url;
    player.dataset.blob = video.blobId;
    return player;
  }));
  if (!videos.length) box.replaceChildren(el("p", "no video yet", "muted"));
}

function drawWorkflow(detail) {
  const section = document.getElementById("workflow");
  section.hidden = !detail;
  if (!detail) return;
  document.getElementById("workflow-id").textContent = detail.id;
  const badge = document.getElementById("workflow-status");
  badge.textContent = detail.json.status;
  badge.className = `status ${detail.json.status}`;
  const waits = Object.entries(detail.dependsOn || {}).map(([step, on]) => `${step} waits on ${on.join(", ")}`);
  document.getElementById("depends").textContent = waits.length ? `Steps: ${waits.join("; ")}` : "";
  fill("timeline", detail.timeline.map((e) => row([
    time(e.at), e.scope, e.step || "", status(e.status),
    [e.progress !== undefined ? `progress ${e.progress}` : "", e.reason || ""].join(" ").trim()])));
  drawVideos(detail.videos);
  fill("attempts", detail.attempts.map((a) => row([
    time(a.at), a.eventType, a.attempt, a.statusCode ?? (a.error || "no answer"), `${a.latencyMs} ms`,
    el("code", JSON.stringify(a.event))])));
  document.getElementById("request").textContent =
    detail.request ? `${detail.request.method} ${detail.request.path}\n${JSON.stringify(detail.request.body, null, 2)}` : "";
  document.getElementById("json").textContent = JSON.stringify(detail.json, null, 2);
}

function drawLog(state) {
  fill("inbox", (state.inbox || []).slice().reverse().map((a) => row([
    time(a.at), el("span", a.workflowId, "mono"), a.eventType, a.attempt, a.statusCode ?? "—", `${a.latencyMs} ms`,
    a.delivered ? "delivered" : a.gaveUp ? `gave up: ${a.error || a.statusCode}` : a.error || "will retry"])));
  fill("requests", (state.requests || []).slice().reverse().map((r) => {
    const query = new URLSearchParams(r.query).toString();
    const lint = el("td", r.rules.join(", "), r.rules.length ? "lint" : "");
    const tr = row([r.seq, time(r.at), `${r.method} ${r.path}${query ? "?" + query : ""}`, r.status]);
    tr.appendChild(lint);
    if (r.rules.length) tr.dataset.rules = r.rules.join(" ");
    return tr;
  }));
  const lint = state.lint || { rules: [], errors: 0, advisories: 0 };
  document.getElementById("lint-summary").textContent =
    `(${lint.errors} violation(s), ${lint.advisories} advisory note(s))`;
  document.getElementById("lint").replaceChildren(...lint.rules.map((group) =>
    el("li", `${group.rule} ×${group.count}: ${group.first.message}`,
       group.severity === "advisory" ? "advisory" : "violation")));
  fill("transactions", (state.transactions || []).map((t) => row([
    el("span", t.workflowId, "mono"), t.type, t.accountType, t.amount])));
}

async function refresh() {
  const query = new URLSearchParams();
  if (chosen.tenant) query.set("tenant", chosen.tenant);
  if (chosen.workflow) query.set("workflow", chosen.workflow);
  try {
    const state = await api(`/_mock/ui/state?${query}`);
    chosen.tenant = state.tenant;
    drawClock(state.clock);
    drawTenants(state);
    drawWorkflows(state);
    drawWorkflow(state.workflow);
    drawLog(state);
    document.getElementById("live").textContent = `live · updated ${new Date().toLocaleTimeString()}`;
    document.body.dataset.ready = "true";
  } catch (error) {
    document.getElementById("live").textContent = `not updating: ${error.message}`;
  }
}

for (const button of document.querySelectorAll("[data-advance]")) {
  button.addEventListener("click", async () => {
    await api("/_mock/clock/advance", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ seconds: Number(button.dataset.advance) }),
    });
    refresh();
  });
}

refresh();
setInterval(refresh, 1000);
