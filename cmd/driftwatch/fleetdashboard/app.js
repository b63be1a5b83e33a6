// driftwatch fleet dashboard: polls /api/v1/fleet and renders the
// fleet's summary, its clusters and their drifted resources, with
// filters, and an opened resource's drift history from /api/v1/history
// (the hub's audit log). No framework, no external assets; everything is
// served from the binary.
//
// The page's state lives in its URL query, so a link reproduces it:
// cluster, namespace, kind, severity, status (comma-separated lists, any
// case; a drift without a severity counts as "none"), open (the resource
// whose details are shown, as cluster/Kind/namespace/name) and token
// (passed on to the API as a bearer token).
"use strict";

const params = new URLSearchParams(location.search);
const token = params.get("token");
const headers = token ? { Authorization: "Bearer " + token } : {};

const filterNames = ["cluster", "namespace", "kind", "severity", "status"];
const statuses = ["Drifted", "Missing", "Extra", "Error", "InSync"];
const severities = ["critical", "warning", "info", "none"];
// fleet.States, worst first, but source-error: check --fleet sets it, never the hub.
const states = ["unreachable", "forbidden", "no-crd", "stale", "no-reports", "pending", "drifted", "in-sync"];
const refreshMs = 5000;

function list(s) {
  return (s || "").split(",").map(x => x.trim()).filter(x => x !== "");
}

const filters = {};
for (const f of filterNames) filters[f] = list(params.get(f));
let open = params.get("open") || "";
const histories = new Map(); // resource id → { events } or { error }, once fetched
let lastView = null;

for (const f of filterNames) {
  document.getElementById("f-" + f).addEventListener("change", e => setFilter(f, list(e.target.value)));
}
document.getElementById("clear-filters").addEventListener("click", () => {
  for (const f of filterNames) filters[f] = [];
  saveState();
  refresh();
});

function setFilter(name, values) {
  filters[name] = values;
  saveState();
  // The status filter decides whether the hub sends resources in sync.
  if (name === "status") refresh(); else render(lastView);
}

// saveState writes the filters and the open resource into the URL query,
// keeping any other parameter (the token).
function saveState() {
  const p = new URLSearchParams(location.search);
  for (const f of filterNames) {
    if (filters[f].length) p.set(f, filters[f].join(",")); else p.delete(f);
  }
  if (open) p.set("open", open); else p.delete("open");
  const q = p.toString();
  history.replaceState(null, "", q ? "?" + q : location.pathname);
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function fmtTime(t) { return t ? new Date(t).toLocaleString() : ""; }

// age says how long ago t was, in its largest unit.
function age(t) {
  const s = Math.max(0, Math.round((Date.now() - new Date(t).getTime()) / 1000));
  if (s < 90) return s + "s ago";
  if (s < 90 * 60) return Math.round(s / 60) + "m ago";
  if (s < 36 * 3600) return Math.round(s / 3600) + "h ago";
  return Math.round(s / 86400) + "d ago";
}

function timeEl(t) {
  return t ? el("time", { datetime: t, title: fmtTime(t) }, age(t)) : el("span", { class: "muted" }, "never");
}

function resourceID(r) { return r.cluster + "/" + r.kind + "/" + (r.namespace || "") + "/" + r.name; }

function severityBadge(sev) {
  return sev ? el("span", { class: "sev sev-" + sev }, sev) : null;
}

function stateBadge(state) {
  return el("span", { class: "state state-" + state }, state);
}

function inList(values, v) {
  return !values.length || values.some(x => x.toLowerCase() === String(v).toLowerCase());
}

// The filters, as the hub's fleet.Filter applies them: cluster narrows
// clusters and resources, the others resources only.
function clusterMatches(c) { return inList(filters.cluster, c.name); }
function resourceMatches(r) {
  return inList(filters.cluster, r.cluster) && inList(filters.namespace, r.namespace || "") &&
    inList(filters.kind, r.kind) && inList(filters.severity, r.severity || "none") &&
    inList(filters.status, r.status);
}

function isDrift(r) { return r.status === "Drifted" || r.status === "Missing" || r.status === "Extra"; }

// summarize counts as fleet.Summarize does, over what the filters keep.
function summarize(clusters, resources) {
  const s = { clusters: clusters.length, byState: {}, drifted: 0, bySeverity: {}, errors: 0 };
  for (const c of clusters) s.byState[c.state] = (s.byState[c.state] || 0) + 1;
  for (const r of resources) {
    if (isDrift(r)) {
      s.drifted++;
      const sev = r.severity || "none";
      s.bySeverity[sev] = (s.bySeverity[sev] || 0) + 1;
    } else if (r.status === "Error") {
      s.errors++;
    }
  }
  return s;
}

function card(key, count, label, cls) {
  return el("div", { class: "card " + (cls || "") + (count ? "" : " zero"), "data-summary": key },
    el("b", {}, count), label);
}

function renderSummary(s) {
  const clusters = [card("clusters", s.clusters, "clusters")];
  for (const st of states) {
    if (st === "pending" && !s.byState[st]) continue;
    clusters.push(card(st, s.byState[st] || 0, st === "in-sync" ? "in sync" : st, "state-" + st));
  }
  const resources = [card("resources-drifted", s.drifted, "drifted")];
  for (const sev of severities) {
    resources.push(card("severity-" + sev, s.bySeverity[sev] || 0, sev === "none" ? "no severity" : sev, "sev-card sev-" + sev));
  }
  resources.push(card("errors", s.errors, "errors"));
  document.getElementById("summary").replaceChildren(
    el("div", { class: "group", "data-group": "clusters" }, el("span", { class: "group-label" }, "clusters"), ...clusters),
    el("div", { class: "group", "data-group": "resources" }, el("span", { class: "group-label" }, "resources"), ...resources));
}

// historyURL is the audit log's endpoint for the given filters, with the
// page's token (for a link the browser follows without the header).
function historyURL(filter, format) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(filter)) if (v) q.set(k, v);
  if (format) q.set("format", format);
  if (format && token) q.set("token", token);
  return "api/v1/history?" + q;
}

function exportLinks(filter, id) {
  return el("span", { class: "exports", id },
    "export history: ",
    el("a", { href: historyURL(filter, "csv"), class: "export", "data-format": "csv" }, "CSV"), " · ",
    el("a", { href: historyURL(filter, "jsonl"), class: "export", "data-format": "jsonl" }, "JSON lines"));
}

function sourcesCell(c) {
  if (!c.sources || !c.sources.length) return el("td", { class: "sources muted" }, "none");
  return el("td", { class: "sources" }, ...c.sources.map(s =>
    el("div", { class: "source" }, el("code", {}, s.policy),
      s.revision ? el("span", { class: "revision" }, " @ " + s.revision.slice(0, 12)) : null,
      s.agent ? el("span", { class: "muted" }, " · " + s.agent) : null)));
}

function clusterRow(c) {
  const counts = [];
  if (c.drifted) counts.push(el("span", { class: "drifted" }, c.drifted + " drifted"), " ", severityBadge(c.severity));
  if (c.errors) counts.push(counts.length ? " · " : null, el("span", { class: "errors" }, c.errors + (c.errors === 1 ? " error" : " errors")));
  if (counts.length) counts.push(" · ");
  counts.push(el("span", { class: "muted" }, c.inSync + " in sync"));
  const name = el("button", { type: "button", class: "link", title: "show only this cluster" }, c.name);
  name.addEventListener("click", () => setFilter("cluster", [c.name]));
  return el("tr", { class: "cluster state-" + c.state, "data-cluster": c.name, "data-state": c.state },
    el("td", { class: "name" }, name, c.server ? el("div", { class: "muted small" }, c.server) : null),
    el("td", {}, stateBadge(c.state), c.since ? el("div", { class: "muted small" }, "since " + fmtTime(c.since)) : null),
    el("td", { class: "heartbeat" }, timeEl(c.checkedAt)),
    sourcesCell(c),
    el("td", { class: "counts" }, ...counts),
    el("td", { class: "error" }, c.error || ""));
}

// eventText says what one audit event means.
function eventText(e) {
  switch (e.type) {
    case "detected": return e.status === "Missing" ? "missing from the cluster" :
      e.status === "Extra" ? "in the cluster, not in Git" : "drift detected";
    case "changed": return "drift changed";
    case "resolved": return e.status === "InSync" ? "back in sync" : "left the report";
  }
  return e.type;
}

function timeline(id) {
  const h = histories.get(id);
  if (h === undefined) return el("div", { class: "timeline muted" }, "loading history…");
  if (h.error) return el("div", { class: "timeline muted history-error" }, "history unavailable: " + h.error);
  if (!h.events.length) return el("div", { class: "timeline muted" }, "no event in the audit log");
  const ol = el("ol", { class: "timeline", "data-resource": id });
  for (const e of h.events) {
    const fields = e.fields ? e.fields + (e.fields === 1 ? " field" : " fields") +
      (e.paths && e.paths.length ? ": " + e.paths.join(", ") + (e.fields > e.paths.length ? ", …" : "") : "") : "";
    ol.append(el("li", { class: "event " + e.type, "data-type": e.type, "data-seq": e.seq },
      el("span", { class: "when" }, fmtTime(e.time)), " ",
      el("b", {}, e.type), " ",
      el("span", {}, eventText(e)),
      e.status ? el("span", { class: "muted" }, " · " + e.status) : null,
      e.severity ? " " : null, severityBadge(e.severity),
      e.manager ? el("span", { class: "muted" }, " · by " + e.manager) : null,
      fields ? el("div", { class: "paths muted" }, el("code", {}, fields)) : null));
  }
  return ol;
}

function detail(r, cluster) {
  const id = resourceID(r);
  const paths = el("ul", { class: "paths" }, ...(r.paths || []).map(p => el("li", {}, el("code", {}, p))));
  if (r.morePaths) paths.append(el("li", { class: "muted" }, "… and " + r.morePaths + " more"));
  const row = (k, v) => v ? [el("dt", {}, k), el("dd", {}, v)] : [];
  const changedBy = r.changedBy ? r.changedBy + (r.changedAt ? " at " + fmtTime(r.changedAt) : " (no time recorded)") : "";
  const div = el("div", { id: "detail", "data-id": id },
    el("h3", {}, r.kind + " " + (r.namespace ? r.namespace + "/" : "") + r.name,
      el("span", { class: "muted" }, " in " + r.cluster + " · " + r.apiVersion)),
    cluster && !["drifted", "in-sync"].includes(cluster.state) ?
      el("div", { class: "banner" }, "cluster " + cluster.state + ": this is the last report the hub read") : null,
    el("dl", {},
      ...row("status", r.status), ...row("severity", r.severity),
      ...row("changed by", changedBy), ...row("first seen", fmtTime(r.firstSeen)),
      ...row("last changed", fmtTime(r.lastChanged)),
      ...row("source", r.policy ? r.policy + (r.revision ? " @ " + r.revision : "") : ""),
      ...row("description", r.description)),
    el("h4", {}, "drifted paths" + (r.fields ? " (" + r.fields + ")" : "")),
    r.paths && r.paths.length ? paths : el("p", { class: "muted" }, "no path recorded"),
    el("h4", {}, "history ", exportLinks(historyFilter(id), undefined)),
    timeline(id));
  return el("tr", { class: "detail" }, el("td", { colspan: "9" }, div));
}

// resourceRow is one resource's line; a resource of a cluster the hub
// does not fully see (unreachable, stale…) is marked with its state.
function resourceRow(r, cluster) {
  const id = resourceID(r);
  const state = cluster ? cluster.state : "";
  const unhealthy = state && !["drifted", "in-sync"].includes(state);
  const tr = el("tr", {
    class: "resource " + r.status + (id === open ? " open" : "") + (unhealthy ? " unhealthy" : ""), tabindex: "0",
    "data-id": id, "data-cluster": r.cluster, "data-status": r.status, "data-severity": r.severity || undefined,
    "data-cluster-state": unhealthy ? state : undefined,
    title: unhealthy ? "cluster " + state + ": the last report the hub read" : undefined,
  },
  el("td", {}, r.cluster), el("td", { class: "status" }, r.status), el("td", {}, severityBadge(r.severity)),
  el("td", {}, r.kind), el("td", {}, r.namespace || ""), el("td", { class: "rname" }, r.name),
  el("td", {}, r.fields || ""), el("td", {}, r.changedBy || ""),
  el("td", {}, r.firstSeen ? timeEl(r.firstSeen) : ""));
  const toggle = () => {
    open = open === id ? "" : id;
    saveState();
    render(lastView);
    if (open) loadHistory(open).then(() => render(lastView));
  };
  tr.addEventListener("click", toggle);
  tr.addEventListener("keydown", e => { if (e.key === "Enter") toggle(); });
  return tr;
}

// historyFilter is the audit log's filter for one resource's events.
function historyFilter(id) {
  // Split from the right: a cluster (a kubeconfig context) may hold "/".
  const parts = id.split("/");
  const [kind, namespace, name] = parts.slice(-3);
  return { cluster: parts.slice(0, -3).join("/"), kind, namespace, name };
}

// loadHistory fetches one resource's events from the audit log.
async function loadHistory(id) {
  const namespace = historyFilter(id).namespace;
  try {
    const resp = await fetch(historyURL(historyFilter(id)), { headers, cache: "no-store" });
    if (!resp.ok) throw new Error((await resp.text()).trim() || "HTTP " + resp.status);
    const body = await resp.json();
    // An empty namespace filter is no filter: keep the cluster-scoped one.
    const events = body.events.filter(e => (e.namespace || "") === namespace);
    histories.set(id, { events });
  } catch (e) {
    histories.set(id, { error: e.message });
  }
}

// fillSelect lists "all", the known values and the current filter (which
// may name a value not in the view, or several).
function fillSelect(name, values) {
  const sel = document.getElementById("f-" + name);
  const cur = filters[name].join(",");
  const opts = [...new Set(values)];
  if (cur && !opts.some(v => v.toLowerCase() === cur.toLowerCase())) opts.push(cur);
  const match = opts.find(v => v.toLowerCase() === cur.toLowerCase());
  const option = (v, label) => el("option", v === (match || "") ? { value: v, selected: "" } : { value: v }, label);
  sel.replaceChildren(option("", "all"), ...opts.map(v => option(v, v)));
  sel.value = match || "";
}

const stateOrder = Object.fromEntries(states.map((s, i) => [s, i]));
const sevOrder = { critical: 0, warning: 1, info: 2 };

function render(view) {
  if (!view) return;
  document.getElementById("generated").textContent = "view of " + fmtTime(view.generatedAt);
  const sorted = xs => [...new Set(xs)].sort();
  fillSelect("cluster", view.clusters.map(c => c.name));
  fillSelect("namespace", sorted(view.resources.filter(r => r.namespace).map(r => r.namespace)));
  fillSelect("kind", sorted(view.resources.map(r => r.kind)));
  fillSelect("severity", severities);
  fillSelect("status", statuses);

  const clusters = view.clusters.filter(clusterMatches)
    .sort((a, b) => stateOrder[a.state] - stateOrder[b.state] || a.name.localeCompare(b.name));
  const resources = view.resources.filter(resourceMatches).sort((a, b) =>
    (sevOrder[a.severity] ?? 3) - (sevOrder[b.severity] ?? 3) || a.cluster.localeCompare(b.cluster) ||
    (a.namespace || "").localeCompare(b.namespace || "") || a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name));
  renderSummary(summarize(clusters, resources));

  const bad = clusters.filter(c => !["drifted", "in-sync"].includes(c.state));
  const banner = document.getElementById("unhealthy");
  banner.hidden = !bad.length;
  banner.textContent = bad.length ? bad.length + (bad.length === 1 ? " cluster" : " clusters") +
    " not fully seen (" + bad.map(c => c.name + ": " + c.state).join(", ") +
    "): their drift below is the last the hub read, or unknown." : "";

  const cbody = document.querySelector("#clusters tbody");
  cbody.replaceChildren(...clusters.map(clusterRow));
  if (!clusters.length) cbody.append(el("tr", {}, el("td", { colspan: "6", class: "muted" }, "No cluster matches the filters.")));

  const byName = Object.fromEntries(view.clusters.map(c => [c.name, c]));
  const rbody = document.querySelector("#resources tbody");
  const rows = [];
  for (const r of resources) {
    rows.push(resourceRow(r, byName[r.cluster]));
    if (resourceID(r) === open) rows.push(detail(r, byName[r.cluster]));
  }
  rbody.replaceChildren(...rows);
  const filtered = filterNames.some(f => filters[f].length);
  document.getElementById("fleet-exports").replaceChildren(exportLinks({
    cluster: filters.cluster.join(","), namespace: filters.namespace.join(","), kind: filters.kind.join(","),
  }, "export"));
  const none = document.getElementById("no-resources");
  none.hidden = resources.length > 0;
  none.textContent = filtered ? "No resource matches the filters." : "No drift in the fleet.";
  document.getElementById("shown").textContent = "showing " + resources.length + " of " + view.resources.length +
    " resources" + (filtered ? " (filtered)" : "");
}

let timer = null;

// refresh fetches the view (with resources in sync only when the status
// filter asks for them) and the open resource's history, then renders.
async function refresh() {
  clearTimeout(timer);
  try {
    const q = filters.status.length ? "?" + new URLSearchParams({ status: filters.status.join(",") }) : "";
    const resp = await fetch("api/v1/fleet" + q, { headers, cache: "no-store" });
    if (resp.status === 401) {
      throw new Error(token ? "the token was refused" : "this hub requires a token: open the dashboard as /?token=<token>");
    }
    if (!resp.ok) throw new Error("HTTP " + resp.status);
    lastView = await resp.json();
    if (open) await loadHistory(open);
    render(lastView);
    document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (e) {
    document.getElementById("updated").textContent = "update failed: " + e.message;
  }
  timer = setTimeout(refresh, refreshMs);
}
refresh();
