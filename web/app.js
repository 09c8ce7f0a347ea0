// gtsim ui: draws the snapshots the server pushes on /events (tools/ui_server.h) and sends the
// fault buttons to /api/fault. Plain browser JavaScript, no build step; charts are uPlot.
"use strict";

const HISTORY = 180;  // points kept per chart (one per snapshot: 3 minutes at 1 s)
const COLORS = ["#58a6ff", "#f0883e", "#3fb950", "#d2a8ff", "#ff7b72", "#e3b341", "#79c0ff",
                "#56d364"];
const SVG = "http://www.w3.org/2000/svg";

const state = {
  regions: [],      // names, cluster order
  links: [],        // "src>dst" keys, status order
  times: [],        // seconds
  staleness: {},    // link -> values
  p99: {},          // link -> values
  writes: {},       // region -> values
  charts: {},
  conflictKeys: new Set(),
  lastFaults: null, lastRegionStates: {}, lastReplicas: {}, lastReplicaStatus: {},
};

const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, text) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
};
const svgEl = (tag, attrs = {}) => {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
};
const linkKey = (p) => `${p.source}>${p.destination}`;
const fmtMs = (ms) => ms == null ? "–" : ms < 10000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
const hhmmss = (ms) => new Date(ms).toISOString().substring(11, 19);

// The link's state for drawing: connected, cut (partition), paused (one-way cut), delayed, or
// other (a region down, connecting).
function linkState(p) {
  if (p.link === "partitioned") return p.paused ? "paused" : "cut";
  if (p.link === "connected") return p.delay_ms > 0 ? "delayed" : "connected";
  return "other";
}
function linkStateText(p) {
  const s = linkState(p);
  if (s === "delayed") return `delayed ${Math.round(p.delay_ms)} ms`;
  if (s === "other") return p.link;
  return s;
}

// --- structure, built once per set of regions ---------------------------------------------

function positions(regions) {
  const cx = 280, cy = 215, r = 155, pos = {};
  regions.forEach((name, i) => {
    const a = -Math.PI / 2 + (2 * Math.PI * i) / regions.length;
    pos[name] = { x: cx + r * Math.cos(a), y: cy + r * Math.sin(a) };
  });
  return pos;
}

function buildGraph(snap) {
  const svg = $("graph");
  svg.replaceChildren();
  const defs = svgEl("defs");
  for (const s of ["connected", "cut", "paused", "delayed", "other"]) {
    const m = svgEl("marker", { id: `arrow-${s}`, viewBox: "0 0 10 10", refX: "9", refY: "5",
      markerWidth: "5", markerHeight: "5", orient: "auto-start-reverse" });
    m.appendChild(svgEl("path", { d: "M0,0 L10,5 L0,10 z", class: `arrowhead ${s}` }));
    defs.appendChild(m);
  }
  svg.appendChild(defs);
  const pos = positions(state.regions), R = 38;
  const links = svgEl("g"), nodes = svgEl("g");
  for (const p of snap.replication) {
    const a = pos[p.source], b = pos[p.destination];
    const dx = b.x - a.x, dy = b.y - a.y, len = Math.hypot(dx, dy);
    const ux = dx / len, uy = dy / len, nx = -uy * 7, ny = ux * 7;  // this direction's side
    const g = svgEl("g", { class: "link", "data-testid": "link", "data-source": p.source,
      "data-destination": p.destination });
    g.appendChild(svgEl("line", { x1: a.x + ux * R + nx, y1: a.y + uy * R + ny,
      x2: b.x - ux * (R + 4) + nx, y2: b.y - uy * (R + 4) + ny }));
    // The label sits beside this direction's line, on its side, anchored away from it.
    const anchor = nx > 2 ? "start" : nx < -2 ? "end" : "middle";
    const t = svgEl("text", { x: a.x + dx * 0.4 + nx * 1.8, y: a.y + dy * 0.4 + ny * 2.2 + 4,
      "text-anchor": anchor });
    g.appendChild(t);
    const title = svgEl("title");
    g.appendChild(title);
    links.appendChild(g);
  }
  for (const name of state.regions) {
    const { x, y } = pos[name];
    const g = svgEl("g", { class: "node", "data-testid": "region", "data-region": name });
    g.appendChild(svgEl("circle", { cx: x, cy: y, r: R }));
    const t1 = svgEl("text", { x, y: y - 2 });
    t1.textContent = name;
    const t2 = svgEl("text", { x, y: y + 14, class: "sub" });
    g.append(t1, t2);
    nodes.appendChild(g);
  }
  svg.append(links, nodes);
}

function button(label, body, cls) {
  const b = el("button", cls ? { class: cls } : {}, label);
  b.addEventListener("click", () => fault(b, typeof body === "function" ? body() : body));
  return b;
}

function buildControls() {
  const c = $("controls");
  c.replaceChildren();
  const group = (title) => {
    const g = el("div", { class: "group" });
    g.appendChild(el("h3", {}, title));
    c.appendChild(g);
    return g;
  };
  const rs = state.regions;
  let g = group("Regions");
  for (const r of rs) {
    const row = el("div", { class: "row" });
    row.appendChild(button(`kill ${r}`, { action: "kill", region: r }, "danger"));
    row.appendChild(button(`restart ${r}`, { action: "restart", region: r }));
    const skew = el("input", { value: "500ms", "aria-label": `clock skew of ${r}` });
    row.appendChild(skew);
    row.appendChild(button(`skew ${r}`, () => ({ action: "skew", region: r, skew: skew.value })));
    g.appendChild(row);
  }
  g = group("Partitions (both directions)");
  let row = el("div", { class: "row" });
  for (let i = 0; i < rs.length; i++) {
    for (let j = i + 1; j < rs.length; j++) {
      row.appendChild(button(`partition ${rs[i]} / ${rs[j]}`,
        { action: "partition", a: rs[i], b: rs[j] }, "danger"));
    }
  }
  row.appendChild(button("heal", { action: "heal" }));
  g.appendChild(row);
  g = group("One direction: pause replication, delay the link (0 removes it)");
  for (const s of rs) {
    for (const d of rs) {
      if (s === d) continue;
      row = el("div", { class: "row" });
      row.appendChild(button(`pause ${s} → ${d}`, { action: "pause", from: s, to: d }));
      const delay = el("input", { value: "200ms", "aria-label": `delay of ${s} → ${d}` });
      row.appendChild(delay);
      row.appendChild(button(`delay ${s} → ${d}`,
        () => ({ action: "delay", from: s, to: d, delay: delay.value })));
      g.appendChild(row);
    }
  }
}

// `dots`: draw each point (for series with gaps, where a lone value has no line).
function makeChart(id, names, dots = false) {
  const host = $(id);
  host.replaceChildren();
  const width = Math.max(260, host.clientWidth || 360);
  const opts = {
    width, height: 190,
    series: [{}].concat(names.map((n, i) => ({
      label: n.replace(">", " → "), stroke: COLORS[i % COLORS.length], width: 1.5,
      spanGaps: false, points: { show: dots, size: 5 } }))),
    axes: [{ stroke: "#8a96a3", grid: { stroke: "#2a3541" }, ticks: { stroke: "#2a3541" } },
           { stroke: "#8a96a3", grid: { stroke: "#2a3541" }, ticks: { stroke: "#2a3541" },
             size: 55 }],
    scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
    legend: { live: false },
  };
  return new uPlot(opts, [[], ...names.map(() => [])], host);
}

function buildCharts() {
  state.charts.staleness = makeChart("chart-staleness", state.links);
  state.charts.p99 = makeChart("chart-p99", state.links, true);
  state.charts.writes = makeChart("chart-writes", state.regions);
}

// --- each snapshot -------------------------------------------------------------------------

function push(arr, v) {
  arr.push(v);
  if (arr.length > HISTORY) arr.shift();
}

function render(snap) {
  if (!snap.time_ms) return;
  $("clock").textContent = `${hhmmss(snap.time_ms)} UTC`;
  if (snap.error) {
    $("cluster").textContent = snap.error;
    return;
  }
  $("cluster").textContent = snap.dir;
  const regions = snap.regions.map((r) => r.region);
  const links = snap.replication.map(linkKey);
  if (regions.join() !== state.regions.join() || links.join() !== state.links.join()) {
    state.regions = regions;
    state.links = links;
    state.times = [];
    state.staleness = {}; state.p99 = {}; state.writes = {};
    for (const l of links) { state.staleness[l] = []; state.p99[l] = []; }
    for (const r of regions) state.writes[r] = [];
    buildGraph(snap);
    buildControls();
    buildCharts();
  }
  // Regions.
  for (const r of snap.regions) {
    const g = document.querySelector(`g.node[data-region="${r.region}"]`);
    const up = r.state === "running";
    g.setAttribute("class", `node ${up ? "running" : "down"}`);
    g.setAttribute("data-state", r.state);
    const wps = r.writes_per_s;
    g.querySelector("text.sub").textContent =
      up ? (wps == null ? "…" : `${Math.round(wps)} writes/s`) : r.state;
  }
  // Links: graph and table.
  const body = $("links").querySelector("tbody");
  body.replaceChildren();
  for (const p of snap.replication) {
    const s = linkState(p), text = linkStateText(p);
    const g = document.querySelector(
      `g.link[data-source="${p.source}"][data-destination="${p.destination}"]`);
    g.setAttribute("class", `link ${s}`);
    g.setAttribute("data-state", s);
    g.setAttribute("data-staleness-ms", p.staleness_ms == null ? "" : String(p.staleness_ms));
    g.setAttribute("data-pending", p.pending == null ? "" : String(p.pending));
    g.querySelector("line").setAttribute("marker-end", `url(#arrow-${s})`);
    const stale = p.staleness_ms == null ? "?" : fmtMs(p.staleness_ms);
    g.querySelector("text").textContent = s === "connected" ? stale : `${text} · ${stale}`;
    g.querySelector("title").textContent =
      `${p.source} → ${p.destination}: ${text}, staleness ${stale}, pending ${p.pending ?? "?"}`;
    const l1 = p.latency_1s_ms, l60 = p.latency_ms;
    const tr = el("tr", { "data-testid": "link-row", "data-link": linkKey(p), "data-state": s });
    tr.append(el("td", {}, `${p.source} → ${p.destination}`),
              el("td", { class: `state-${s}` }, text),
              el("td", {}, p.staleness_ms == null ? "?" : fmtMs(p.staleness_ms)),
              el("td", {}, l1 && l1.samples > 0 ? `${l1.p99.toFixed(1)} ms` : "–"),
              el("td", {}, l60 && l60.samples > 0 ? `${l60.p99.toFixed(1)} ms` : "–"),
              el("td", {}, p.pending == null || p.pending < 0 ? "?" : String(p.pending)),
              el("td", {}, p.replicated_time ? p.replicated_time.substring(11, 23) : "?"));
    body.appendChild(tr);
  }
  // Charts.
  push(state.times, snap.time_ms / 1000);
  for (const p of snap.replication) {
    const l = linkKey(p), l1 = p.latency_1s_ms;
    push(state.staleness[l], p.staleness_ms ?? null);
    push(state.p99[l], l1 && l1.samples > 0 ? l1.p99 : null);
  }
  for (const r of snap.regions) push(state.writes[r.region], r.writes_per_s ?? null);
  state.charts.staleness.setData([state.times, ...state.links.map((l) => state.staleness[l])]);
  state.charts.p99.setData([state.times, ...state.links.map((l) => state.p99[l])]);
  state.charts.writes.setData([state.times, ...state.regions.map((r) => state.writes[r])]);
  renderConflicts(snap.conflicts || []);
  noteEvents(snap);
}

function renderConflicts(conflicts) {
  const list = $("conflicts");
  for (const c of conflicts) {
    const key = `${c.region}|${c.at_us}|${c.table}|${JSON.stringify(c.key)}|${c.lost.stamp_us}`;
    if (state.conflictKeys.has(key)) continue;
    state.conflictKeys.add(key);
    const li = el("li", { "data-testid": "conflict", "data-table": c.table,
      "data-region": c.region });
    li.append(el("span", { class: "t" }, c.at.substring(11, 23)),
              el("b", {}, `${c.table} ${JSON.stringify(c.key)}`), document.createTextNode(": "),
              document.createTextNode(c.explanation));
    list.prepend(li);
    while (list.children.length > 100) list.lastChild.remove();
  }
}

function addEvent(text, cls) {
  const li = el("li", cls ? { class: cls, "data-testid": "event" } : { "data-testid": "event" });
  li.append(el("span", { class: "t" }, hhmmss(Date.now())), document.createTextNode(text));
  const list = $("events");
  list.prepend(li);
  while (list.children.length > 200) list.lastChild.remove();
}

// Control-plane and fault changes between two snapshots.
function noteEvents(snap) {
  const faults = new Set(snap.faults.map((f) => f.text));
  if (state.lastFaults) {
    for (const f of faults) if (!state.lastFaults.has(f)) addEvent(`fault: ${f}`);
    for (const f of state.lastFaults) if (!faults.has(f)) addEvent(`ended: ${f}`);
  } else {
    for (const f of faults) addEvent(`active fault: ${f}`);
  }
  state.lastFaults = faults;
  for (const r of snap.regions) {
    const before = state.lastRegionStates[r.region];
    if (before && before !== r.state) addEvent(`${r.region}: ${before} → ${r.state}`);
    state.lastRegionStates[r.region] = r.state;
  }
  for (const t of snap.tables) {
    const now = t.replicas.join(", ");
    const before = state.lastReplicas[t.table];
    if (before === undefined) addEvent(`table ${t.table}: replicas ${now || "(regional)"}`);
    else if (before !== now) addEvent(`table ${t.table}: replicas ${before} → ${now}`);
    state.lastReplicas[t.table] = now;
    // Control plane: a replica CREATING (with its progress) or DELETING, then ACTIVE.
    const rs = t.replica_status || {};
    for (const r of t.replicas) {
      const status = rs[r] || "ACTIVE";
      const k = `${t.table}|${r}`, before = state.lastReplicaStatus[k];
      if (before !== undefined ? before !== status : status !== "ACTIVE") {
        addEvent(`table ${t.table}: replica ${r} ${status}`);
      }
      state.lastReplicaStatus[k] = status;
    }
  }
  for (const w of snap.warnings) {
    const k = `warn|${w.region}|${w.text}`;
    if (!state.conflictKeys.has(k)) {
      state.conflictKeys.add(k);
      addEvent(`${w.region} warns: ${w.text}`, "warn");
    }
  }
}

async function fault(btn, body) {
  const result = $("result");
  btn.disabled = true;
  result.className = "dim";
  result.textContent = `${btn.textContent}…`;
  try {
    const res = await fetch("/api/fault", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    const answer = await res.json();
    if (!res.ok) throw new Error(answer.error || res.statusText);
    result.textContent = answer.message;
    addEvent(`${btn.textContent}: ${answer.message}`);
  } catch (e) {
    result.className = "error";
    result.textContent = `${btn.textContent} failed: ${e.message}`;
    addEvent(`${btn.textContent} failed: ${e.message}`, "error");
  } finally {
    btn.disabled = false;
  }
}

function connect() {
  const conn = $("conn");
  const es = new EventSource("events");
  es.addEventListener("open", () => { conn.className = "pill up"; conn.textContent = "live"; });
  es.addEventListener("error", () => {
    conn.className = "pill down";
    conn.textContent = "disconnected (retrying)";
  });
  es.addEventListener("snapshot", (ev) => {
    conn.className = "pill up";
    conn.textContent = "live";
    render(JSON.parse(ev.data));
  });
}

connect();
