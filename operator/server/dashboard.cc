#include "operator/server/dashboard.h"

namespace healthgate::server {

namespace {

// Kept in one raw string so the binary needs no files at run time. Text from
// the API is only ever placed with textContent / setAttribute.
constexpr std::string_view kHtml = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>healthgate</title>
<style>
  :root { --ok:#1a7f37; --warn:#b07d00; --bad:#cf222e; --unk:#6e7781; --bg:#f6f8fa; --fg:#1f2328; --line:#d0d7de; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; background: var(--bg); color: var(--fg); }
  header { display: flex; gap: 1.5em; align-items: baseline; padding: .8em 1.2em; background: #fff; border-bottom: 1px solid var(--line); }
  header h1 { font-size: 1.2em; margin: 0; }
  #totals, #updated { color: var(--unk); }
  #error { display: none; margin: 1em 1.2em 0; padding: .6em .8em; border: 1px solid var(--bad); color: var(--bad); background: #fff; border-radius: 6px; }
  main { padding: 1em 1.2em; display: grid; gap: 1em; }
  .check { background: #fff; border: 1px solid var(--line); border-left: 6px solid var(--unk); border-radius: 6px; padding: .7em 1em; }
  .check[data-check-state="Ready"] { border-left-color: var(--ok); }
  .check[data-check-state="Degraded"] { border-left-color: var(--warn); }
  .check[data-check-state="NotReady"] { border-left-color: var(--bad); }
  .head { display: flex; gap: 1em; align-items: baseline; flex-wrap: wrap; }
  .name { font-weight: 600; font-size: 1.05em; }
  .badge { padding: .05em .55em; border-radius: 1em; color: #fff; background: var(--unk); font-size: .85em; }
  .badge.Ready { background: var(--ok); } .badge.Degraded { background: var(--warn); } .badge.NotReady { background: var(--bad); }
  .muted { color: var(--unk); }
  .cond { margin: .3em 0 .5em; }
  .invalid { color: var(--bad); }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .25em .6em .25em 0; border-top: 1px solid var(--line); vertical-align: top; }
  th { font-weight: 500; color: var(--unk); font-size: .85em; }
  .state { font-weight: 600; }
  [data-state="healthy"] .state { color: var(--ok); }
  [data-state="unhealthy"] .state { color: var(--bad); }
  [data-state="unknown"] .state { color: var(--unk); }
  .msg { max-width: 32em; overflow-wrap: anywhere; }
  .hist { display: flex; gap: 2px; }
  .hist span { display: inline-block; width: 7px; height: 14px; border-radius: 1px; background: var(--unk); }
  .hist span.ok { background: var(--ok); } .hist span.fail { background: var(--bad); }
  .empty { color: var(--unk); padding: 2em; text-align: center; }
</style>
</head>
<body>
<header>
  <h1>healthgate</h1>
  <span id="totals"></span>
  <span id="updated"></span>
</header>
<div id="error" role="alert"></div>
<main id="checks"><div class="empty">loading&hellip;</div></main>
<script>
"use strict";
(function () {
  var POLL_MS = 2000;
  var checksEl = document.getElementById("checks");
  var totalsEl = document.getElementById("totals");
  var updatedEl = document.getElementById("updated");
  var errorEl = document.getElementById("error");

  // Build an element; text goes through textContent only.
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function probeState(p) {
    if (p.state === "Healthy") return "healthy";
    if (p.state === "Unhealthy" || p.state === "Blocked") return "unhealthy";
    return "unknown";
  }

  function ago(ts) {
    if (!ts) return "never";
    var t = Date.parse(ts);
    if (isNaN(t)) return String(ts);
    var s = Math.max(0, Math.round((Date.now() - t) / 1000));
    if (s < 60) return s + "s ago";
    if (s < 3600) return Math.floor(s / 60) + "m ago";
    if (s < 86400) return Math.floor(s / 3600) + "h ago";
    return Math.floor(s / 86400) + "d ago";
  }

  function latency(ms) {
    if (typeof ms !== "number") return "";
    return ms < 10 ? ms.toFixed(1) + " ms" : Math.round(ms) + " ms";
  }

  function history(p) {
    var strip = el("div", "hist");
    (p.history || []).forEach(function (h) {
      var s = el("span", h.healthy ? "ok" : "fail");
      s.title = (h.time || "") + " " + (h.reason || "") + " " + latency(h.latencyMs);
      strip.appendChild(s);
    });
    return strip;
  }

  function probeRow(p) {
    var tr = el("tr");
    tr.setAttribute("data-probe", p.name);
    tr.setAttribute("data-state", probeState(p));
    var name = el("td", null, p.name);
    if (p.critical === false) name.appendChild(el("span", "muted", " (non-critical)"));
    tr.appendChild(name);
    tr.appendChild(el("td", "muted", p.type));
    tr.appendChild(el("td", "state", probeState(p)));
    tr.appendChild(el("td", null, p.reason));
    tr.appendChild(el("td", null, latency(p.latencyMs)));
    tr.appendChild(el("td", "muted", ago(p.lastTransitionTime)));
    tr.appendChild(el("td", "msg", p.message));
    var h = el("td");
    h.appendChild(history(p));
    tr.appendChild(h);
    return tr;
  }

  function checkCard(c) {
    var key = c.namespace + "/" + c.name;
    var card = el("section", "check");
    card.setAttribute("data-check", key);
    card.setAttribute("data-check-state", c.state);
    var head = el("div", "head");
    head.appendChild(el("span", "name", key));
    head.appendChild(el("span", "badge " + c.state, c.state));
    head.appendChild(el("span", null, c.summary + " probes healthy"));
    head.appendChild(el("span", "muted", "last probe " + ago(c.lastProbeTime)));
    card.appendChild(head);
    var ready = (c.conditions || []).filter(function (x) { return x.type === "Ready"; })[0];
    if (ready) {
      var changed = ago(ready.lastTransitionTime);
      card.appendChild(el("div", "cond muted", ready.reason + (ready.message ? ": " + ready.message : "") + " (changed " + changed + ")"));
    }
    if (c.invalidSpec) card.appendChild(el("div", "cond invalid", "invalid spec: " + c.invalidSpec));
    var table = el("table");
    var hr = el("tr");
    ["probe", "type", "state", "reason", "latency", "last change", "message", "history"].forEach(function (t) {
      hr.appendChild(el("th", null, t));
    });
    table.appendChild(hr);
    (c.probes || []).forEach(function (p) { table.appendChild(probeRow(p)); });
    card.appendChild(table);
    return card;
  }

  function render(checks) {
    var nodes = checks.map(checkCard);
    if (nodes.length === 0) nodes = [el("div", "empty", "no HealthChecks")];
    checksEl.replaceChildren.apply(checksEl, nodes);
    var ready = checks.filter(function (c) { return c.ready; }).length;
    totalsEl.textContent = ready + "/" + checks.length + " checks ready";
    updatedEl.textContent = "updated " + new Date().toLocaleTimeString();
  }

  function showError(text) {
    errorEl.textContent = text;
    errorEl.style.display = text ? "block" : "none";
  }

  // Keeps ?namespace=NS of the page's own URL.
  function apiUrl() {
    var ns = new URLSearchParams(window.location.search).get("namespace");
    return "api/v1/healthchecks" + (ns ? "?namespace=" + encodeURIComponent(ns) : "");
  }

  function poll() {
    fetch(apiUrl(), { cache: "no-store" })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (checks) { render(checks); showError(""); })
      .catch(function (e) { showError("cannot load results: " + e.message); })
      .finally(function () { window.setTimeout(poll, POLL_MS); });
  }
  poll();
})();
</script>
</body>
</html>
)html";

}  // namespace

std::string_view DashboardHtml() { return kHtml; }

}  // namespace healthgate::server
