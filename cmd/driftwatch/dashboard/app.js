// driftwatch dashboard: polls /api/v1/report and renders it. No framework,
// no external assets; everything is served from the binary.
"use strict";

const params = new URLSearchParams(location.search);
const token = params.get("token");
const headers = token ? { Authorization: "Bearer " + token } : {};
const showInSync = document.getElementById("show-insync");
showInSync.addEventListener("change", () => render(lastReport));
let lastReport = null;

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

function diffRow(d) {
  let desired, live;
  if (d.sensitive) {
    desired = "(secret" + (d.desiredHash ? " " + d.desiredHash : "") + ")";
    live = d.type === "Removed" ? "absent" : "(secret" + (d.liveHash ? " " + d.liveHash : "") + ")";
  } else {
    desired = show(d.desired);
    live = d.type === "Removed" ? "absent" : show(d.live);
  }
  const who = d.changedBy ? d.changedBy.manager + " (" + d.changedBy.operation + ", " + fmtTime(d.changedBy.time) + ")" : "";
  return el("tr", {},
    el("td", {}, el("code", {}, d.path)),
    el("td", {}, d.type),
    el("td", { class: "desired" }, el("code", {}, desired)),
    el("td", { class: "live" }, el("code", {}, live)),
    el("td", { class: "who" }, who));
}

function resourceCard(r) {
  const id = r.kind + " " + (r.namespace ? r.namespace + "/" : "") + r.name;
  const card = el("div", { class: "resource " + r.status, "data-status": r.status },
    el("div", {}, el("span", { class: "status" }, r.status), el("b", {}, id), " ",
      el("span", { class: "muted" }, r.apiVersion)));
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
  return card;
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
  const list = [...rep.resources].sort((a, b) => order[a.status] - order[b.status]);
  const main = document.getElementById("resources");
  main.replaceChildren(...list.filter(r => showInSync.checked || r.status !== "InSync").map(resourceCard));
  if (!main.children.length) main.append(el("p", { class: "muted" }, "Everything is in sync."));
  document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
}

async function poll() {
  try {
    const resp = await fetch("api/v1/report", { headers, cache: "no-store" });
    if (!resp.ok) throw new Error("HTTP " + resp.status);
    lastReport = await resp.json();
    render(lastReport);
  } catch (e) {
    document.getElementById("updated").textContent = "update failed: " + e.message;
  }
  setTimeout(poll, 2000);
}
poll();
