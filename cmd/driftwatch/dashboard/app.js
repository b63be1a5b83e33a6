// driftwatch dashboard: polls /api/v1/report and renders it, with filters
// and each opened resource's drift history from /api/v1/history. No
// framework, no external assets; everything is served from the binary.
//
// The page's state lives in its URL query, so a link reproduces it:
// namespace, kind, status, severity (comma-separated lists, any case; a
// resource without a severity counts as "none"), insync=1 (show resources
// in sync), open (the resources whose timeline is shown, as
// Kind/namespace/name, comma-separated) and token.
"use strict";

const params = new URLSearchParams(location.search);
const token = params.get("token");
const headers = token ? { Authorization: "Bearer " + token } : {};

const filterNames = ["namespace", "kind", "status", "severity"];
const statuses = ["Drifted", "Missing", "Extra", "Error", "InSync"];
const severities = ["critical", "warning", "info", "none"];

function list(s) {
  return (s || "").split(",").map(x => x.trim()).filter(x => x !== "");
}

const filters = {};
for (const f of filterNames) filters[f] = list(params.get(f));
const open = new Set(list(params.get("open")));
const histories = new Map(); // resource id → its events, once fetched
let lastReport = null;

const showInSync = document.getElementById("show-insync");
showInSync.checked = params.get("insync") === "1";
showInSync.addEventListener("change", () => { saveState(); render(lastReport); });
for (const f of filterNames) {
  document.getElementById("f-" + f).addEventListener("change", e => {
    filters[f] = list(e.target.value);
    saveState();
    render(lastReport);
  });
}
document.getElementById("clear-filters").addEventListener("click", () => {
  for (const f of filterNames) filters[f] = [];
  showInSync.checked = false;
  saveState();
  render(lastReport);
});

// saveState writes the filters and open timelines into the URL query,
// keeping any other parameter (the token).
function saveState() {
  const p = new URLSearchParams(location.search);
  for (const f of filterNames) {
    if (filters[f].length) p.set(f, filters[f].join(",")); else p.delete(f);
  }
  if (showInSync.checked) p.set("insync", "1"); else p.delete("insync");
  if (open.size) p.set("open", [...open].join(",")); else p.delete("open");
  const q = p.toString();
  history.replaceState(null, "", q ? "?" + q : location.pathname);
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function show(v) {
  if (v === undefined) return "absent";
  const s = JSON.stringify(v);
  return s.length > 300 ? s.slice(0, 300) + "…" : s;
}

function fmtTime(t) { return t ? new Date(t).toLocaleString() : ""; }

function resourceID(r) { return r.kind + "/" + (r.namespace || "") + "/" + r.name; }

function severityBadge(sev) {
  return sev ? el("span", { class: "sev sev-" + sev }, sev) : null;
}

function diffRow(d) {
  let desired, live;
  if (d.sensitive) {
    desired = "(secret" + (d.desiredHash ? " " + d.desiredHash : "") + ")";
    live = d.type === "Removed" ? "absent" : "(secret" + (d.liveHash ? " " + d.liveHash : "") + ")";
  } else {
    desired = show(d.desired);
    live = d.type === "Removed" ? "absent" : show(d.live);
  }
  // As the text report says it: "kubectl (Update scale, no time recorded)".
  const cb = d.changedBy;
  const who = cb ? cb.manager + " (" + [cb.operation, cb.subresource].filter(Boolean).join(" ") + ", " +
    (cb.time ? fmtTime(cb.time) : "no time recorded") + ")" : "";
  return el("tr", {},
    el("td", {}, el("code", {}, d.path)),
    el("td", {}, d.type, d.severity ? " " : null, severityBadge(d.severity)),
    el("td", { class: "desired" }, el("code", {}, desired)),
    el("td", { class: "live" }, el("code", {}, live)),
    el("td", { class: "who" }, who));
}

// eventText says what one history event means.
function eventText(e, prev) {
  switch (e.type) {
    case "detected": return e.status === "Missing" ? "missing from the cluster" :
      e.status === "Extra" ? "in the cluster, not in Git" : "drift detected";
    case "changed": return "drift changed";
    case "resolved":
      if (e.status === "InSync") return "back in sync";
      return prev && prev.status === "Extra" ? "no longer extra" : "left the report (removed from Git)";
  }
  return e.type;
}

function timeline(id) {
  const h = histories.get(id);
  if (h === undefined) return el("div", { class: "timeline muted" }, "loading history…");
  if (h.error) return el("div", { class: "timeline muted" }, "history unavailable: " + h.error);
  if (!h.events.length) {
    return el("div", { class: "timeline muted" }, "no drift recorded since driftwatch started");
  }
  const ol = el("ol", { class: "timeline", "data-resource": id });
  if (h.dropped) ol.append(el("li", { class: "event muted" }, h.dropped + " earlier events not kept"));
  h.events.forEach((e, i) => {
    const fields = e.fields ? e.fields + (e.fields === 1 ? " field" : " fields") +
      (e.paths && e.paths.length ? ": " + e.paths.join(", ") + (e.fields > e.paths.length ? ", …" : "") : "") : "";
    ol.append(el("li", { class: "event " + e.type, "data-type": e.type },
      el("span", { class: "when" }, fmtTime(e.time)), " ",
      el("b", {}, e.type), " ",
      el("span", {}, eventText(e, h.events[i - 1])),
      e.status ? el("span", { class: "muted" }, " · " + e.status) : null,
      e.severity ? " " : null, severityBadge(e.severity),
      fields ? el("div", { class: "paths muted" }, el("code", {}, fields)) : null));
  });
  return ol;
}

function resourceCard(r) {
  const id = resourceID(r);
  const label = r.kind + " " + (r.namespace ? r.namespace + "/" : "") + r.name;
  const attrs = { class: "resource " + r.status, "data-status": r.status, "data-id": id };
  if (r.severity) attrs["data-severity"] = r.severity;
  const isOpen = open.has(id);
  const toggle = el("button", { type: "button", class: "history-toggle", "aria-expanded": String(isOpen) },
    isOpen ? "hide history" : "history");
  toggle.addEventListener("click", () => toggleHistory(id));
  const card = el("div", attrs,
    el("div", {}, el("span", { class: "status" }, r.status), el("b", {}, label), " ",
      severityBadge(r.severity), r.severity ? " " : null,
      el("span", { class: "muted" }, r.apiVersion), " ", toggle));
  const times = [];
  if (r.firstSeen && r.status !== "InSync") times.push("drifting since " + fmtTime(r.firstSeen));
  if (r.lastChanged && r.status !== "InSync") times.push("last changed " + fmtTime(r.lastChanged));
  if (r.resolvedAt && r.status === "InSync") times.push("resolved " + fmtTime(r.resolvedAt));
  if (r.ignoredFields) times.push(r.ignoredFields + " drifted fields ignored");
  if (times.length) card.append(el("div", { class: "times muted" }, times.join(" · ")));
  if (r.error) card.append(el("div", {}, el("code", {}, r.error)));
  if (r.status === "Missing") card.append(el("div", { class: "muted" }, "not found in the cluster"));
  if (r.diffs && r.diffs.length) {
    const table = el("table", { class: "diffs" },
      el("tr", {}, el("th", {}, "field"), el("th", {}, "change"), el("th", {}, "desired"), el("th", {}, "live"), el("th", {}, "changed by")));
    for (const d of r.diffs) table.append(diffRow(d));
    card.append(table);
  }
  if (isOpen) card.append(timeline(id));
  return card;
}

function toggleHistory(id) {
  if (open.has(id)) open.delete(id); else open.add(id);
  saveState();
  render(lastReport);
  if (open.has(id)) loadHistory(id).then(() => render(lastReport));
}

// loadHistory fetches one resource's events (every group's, if several
// groups have its kind and name).
async function loadHistory(id) {
  const [kind, namespace, name] = id.split("/");
  const q = new URLSearchParams({ kind, name });
  if (namespace) q.set("namespace", namespace);
  try {
    const resp = await fetch("api/v1/history?" + q, { headers, cache: "no-store" });
    if (!resp.ok) throw new Error("HTTP " + resp.status);
    const body = await resp.json();
    const mine = body.resources.filter(h => (h.namespace || "") === namespace);
    const events = mine.flatMap(h => h.events).sort((a, b) => new Date(a.time) - new Date(b.time));
    histories.set(id, { events, dropped: mine.reduce((n, h) => n + (h.dropped || 0), 0) });
  } catch (e) {
    histories.set(id, { events: [], dropped: 0, error: e.message });
  }
}

function inList(values, v) {
  return !values.length || values.some(x => x.toLowerCase() === String(v).toLowerCase());
}

// matches applies the filters; without a status filter, resources in sync
// show only when asked for.
function matches(r) {
  if (!inList(filters.namespace, r.namespace || "")) return false;
  if (!inList(filters.kind, r.kind)) return false;
  if (!inList(filters.severity, r.severity || "none")) return false;
  if (filters.status.length) return inList(filters.status, r.status);
  return showInSync.checked || r.status !== "InSync";
}

// fillSelect lists "all", the known values and the current filter (which
// may name a value not in the report, or several).
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

const order = { Drifted: 0, Missing: 1, Extra: 2, Error: 3, InSync: 4 };

function render(rep) {
  if (!rep) return;
  const s = rep.source || {};
  document.getElementById("source").textContent =
    (s.url || "") + (s.path ? " (" + s.path + ")" : "") + (s.ref ? " @ " + s.ref : "") +
    (s.commit ? " · " + s.commit.slice(0, 12) + " " + JSON.stringify(s.subject || "") : "") +
    " · cluster " + ((rep.cluster || {}).server || "");
  // A banner per part of the report that is not current: why and since when.
  const banner = (id, part, what, shown) => {
    const b = document.getElementById(id);
    b.hidden = !part;
    b.textContent = part ? what + " since " + fmtTime(part.since) + ": " + part.reason + " — " + shown + "." : "";
  };
  banner("stale", rep.stale, "Git unreachable", "showing the last good desired state");
  banner("disconnected", rep.disconnected, "API server not watched", "showing the last live state seen");
  const sum = rep.summary;
  const summary = document.getElementById("summary");
  summary.replaceChildren(...[["total", sum.total], ["in sync", sum.inSync], ["drifted", sum.drifted],
    ["missing", sum.missing], ["extra", sum.extra], ["errors", sum.errors]].map(([k, v]) =>
    el("div", { class: "card" }, el("b", {}, v), k)));

  const sorted = (xs) => [...new Set(xs)].sort();
  fillSelect("namespace", sorted(rep.resources.filter(r => r.namespace).map(r => r.namespace)));
  fillSelect("kind", sorted(rep.resources.map(r => r.kind)));
  fillSelect("status", statuses);
  fillSelect("severity", severities);

  // A status filter says which statuses show, in sync or not.
  showInSync.disabled = filters.status.length > 0;
  const list = [...rep.resources].sort((a, b) => order[a.status] - order[b.status]);
  const shown = list.filter(matches);
  const filtered = filterNames.some(f => filters[f].length);
  const main = document.getElementById("resources");
  main.replaceChildren(...shown.map(resourceCard));
  if (!main.children.length) {
    main.append(el("p", { class: "muted" }, filtered ? "No resource matches the filters." : "Everything is in sync."));
  }
  document.getElementById("shown").textContent = "showing " + shown.length + " of " + list.length + " resources" +
    (filtered ? " (filtered)" : "");
  document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
}

async function poll() {
  try {
    const resp = await fetch("api/v1/report", { headers, cache: "no-store" });
    if (!resp.ok) throw new Error("HTTP " + resp.status);
    lastReport = await resp.json();
    await Promise.all([...open].map(loadHistory));
    render(lastReport);
  } catch (e) {
    document.getElementById("updated").textContent = "update failed: " + e.message;
  }
  setTimeout(poll, 2000);
}
poll();
