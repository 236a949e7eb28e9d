// Rampart security dashboard: polls /dashboard/api/data and draws it as
// SVG. Every value from the gateway is set as text, never as markup.
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var W = 600, H = 180, PAD = 28;
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");

  function $(id) { return document.getElementById(id); }
  function svg(tag, attrs, parent) {
    var el = document.createElementNS(NS, tag);
    Object.keys(attrs || {}).forEach(function (k) { el.setAttribute(k, attrs[k]); });
    if (parent) { parent.appendChild(el); }
    return el;
  }
  function label(parent, x, y, s, anchor) {
    var t = svg("text", { x: x, y: y, "text-anchor": anchor || "start" }, parent);
    t.textContent = s;
    return t;
  }
  function fmt(n) { return n >= 100 ? String(Math.round(n)) : String(Math.round(n * 10) / 10); }
  function clock(ms) { return new Date(ms).toLocaleTimeString(); }

  // lines draws series (arrays of equal length) over times.
  function lines(el, times, series) {
    el.replaceChildren();
    var max = 1;
    series.forEach(function (s) { s.values.forEach(function (v) { max = Math.max(max, v); }); });
    svg("line", { x1: PAD, y1: H - 18, x2: W, y2: H - 18, "class": "axis" }, el);
    label(el, PAD - 4, 12, fmt(max), "end");
    label(el, PAD - 4, H - 18, "0", "end");
    if (times.length) {
      label(el, PAD, H - 4, clock(times[0]));
      label(el, W, H - 4, clock(times[times.length - 1]), "end");
    }
    var n = Math.max(times.length - 1, 1);
    series.forEach(function (s, i) {
      var pts = s.values.map(function (v, j) {
        return (PAD + (W - PAD) * j / n).toFixed(1) + "," + (H - 18 - (H - 30) * v / max).toFixed(1);
      });
      if (pts.length === 1) { pts.push((W) + "," + pts[0].split(",")[1]); }
      svg("polyline", { points: pts.join(" "), "class": "line c" + (i % 8), "data-series": s.name }, el);
    });
  }

  // bars draws a horizontal bar per count.
  function bars(el, counts, empty) {
    el.replaceChildren();
    if (!counts || !counts.length) { label(el, 8, 24, empty); return; }
    var max = 1;
    counts.forEach(function (c) { max = Math.max(max, c.count); });
    var w = el.viewBox.baseVal.width, rows = Math.min(counts.length, 8), bh = Math.min((H - 8) / rows, 30);
    counts.slice(0, rows).forEach(function (c, i) {
      var y = 4 + i * bh;
      label(el, 4, y + bh * 0.65, c.name.length > 20 ? c.name.slice(0, 19) + "…" : c.name);
      svg("rect", { x: 130, y: y + 3, width: Math.max(2, (w - 170) * c.count / max), height: bh - 6, "class": "c" + (i % 8), "data-name": c.name }, el);
      label(el, w - 4, y + bh * 0.65, fmt(c.count), "end");
    });
  }

  function row(table, cells) {
    var tr = table.insertRow(-1);
    cells.forEach(function (c) {
      var td = tr.insertCell(-1);
      if (c instanceof Node) { td.appendChild(c); } else { td.textContent = c == null ? "" : String(c); }
    });
    return tr;
  }
  function clear(table) { while (table.rows.length > 1) { table.deleteRow(1); } }

  function liftButton(id) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = "danger lift";
    b.setAttribute("data-ban", id);
    b.textContent = "Lift ban";
    b.addEventListener("click", function () {
      b.disabled = true;
      fetch("/dashboard/api/bans/" + encodeURIComponent(id) + "/lift", { method: "POST", headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" })
        .then(function (res) {
          if (!res.ok) { return res.json().then(function (p) { failed(p.detail || res.statusText); }); }
          refresh();
        }, function (err) { failed(String(err)); });
    });
    return b;
  }
  function failed(msg) { var e = $("load-error"); e.textContent = msg; e.classList.remove("hidden"); }

  function draw(d) {
    $("load-error").classList.add("hidden");
    $("updated").textContent = "updated " + new Date().toLocaleTimeString();
    var s = d.series;
    lines($("chart-requests"), s.times, [{ name: "requests", values: s.requests_per_second }]);
    var reasons = Object.keys(s.refusals).sort();
    lines($("chart-refusals"), s.times, reasons.map(function (r) {
      return { name: r, values: s.refusals[r].map(function (c) { return c / s.step_seconds; }) };
    }));
    var legend = $("legend-refusals");
    legend.replaceChildren();
    reasons.forEach(function (r, i) { var sp = document.createElement("span"); sp.className = "c" + (i % 8); sp.textContent = r; legend.appendChild(sp); });
    if (!reasons.length) { var none = document.createElement("span"); none.className = "muted"; none.textContent = "no refusals in this window"; legend.appendChild(none); }
    bars($("bars-ips"), d.top_refused_ips, "No refusals yet.");
    bars($("bars-consumers"), d.top_refused_consumers, "No consumer was refused.");
    bars($("bars-waf"), d.waf_rule_groups, "No WAF matches.");

    var bans = $("bans");
    clear(bans);
    d.bans.forEach(function (b) { row(bans, [b.subject || b.id, b.policy, new Date(b.until).toLocaleString(), b.count, liftButton(b.id)]); });
    $("bans-empty").classList.toggle("hidden", d.bans.length > 0);
    if (d.bans_error) { failed(d.bans_error); }

    var ups = $("upstreams");
    clear(ups);
    d.upstreams.forEach(function (u) {
      var st = document.createElement("span");
      st.className = u.healthy && !u.breaker_open ? "health-up" : "health-down";
      st.textContent = u.breaker_open ? "breaker open" : (u.healthy ? "healthy" : "down");
      row(ups, [u.upstream, u.target, st, u.in_flight]);
    });

    var rl = $("reloads");
    clear(rl);
    d.reloads.forEach(function (r) {
      var res = document.createElement("div");
      res.className = r.ok ? "health-up" : "health-down";
      res.textContent = r.ok ? "applied" : "refused";
      (r.errors || []).concat(r.message ? [r.message] : []).forEach(function (e) {
        var p = document.createElement("div");
        p.className = "mono";
        p.textContent = e;
        res.appendChild(p);
      });
      row(rl, [new Date(r.time).toLocaleString(), r.source, res]);
    });

    var feeds = $("feeds");
    clear(feeds);
    d.threat_feeds.forEach(function (f) {
      var st = document.createElement("span");
      st.className = f.error ? "health-down" : "health-up";
      st.textContent = f.error ? "failing (" + f.failures + "): " + f.error : "ok";
      row(feeds, [f.name, f.entries, f.loaded ? new Date(f.loaded).toLocaleString() : "never",
        f.checked ? new Date(f.checked).toLocaleString() : "never", st]);
    });
    $("feeds-empty").classList.toggle("hidden", d.threat_feeds.length > 0);

    var ev = $("events");
    clear(ev);
    d.recent_events.forEach(function (e) {
      row(ev, [new Date(e.time).toLocaleTimeString(), e.type, e.reason, e.client_ip, e.consumer, e.route, e.detail]);
    });
  }

  function refresh() {
    fetch("/dashboard/api/data", { credentials: "same-origin" }).then(function (res) {
      if (res.status === 401) { location.reload(); return null; }
      return res.json();
    }).then(function (d) { if (d) { draw(d); } }, function (err) { failed("The dashboard could not reach the gateway: " + err); });
  }
  // review lists the access review's findings, one row each.
  function review() {
    fetch("/dashboard/api/access-review", { credentials: "same-origin" }).then(function (res) {
      if (!res.ok) { return res.json().then(function (p) { $("review-summary").textContent = p.detail || res.statusText; return null; }); }
      return res.json();
    }).then(function (rep) {
      if (!rep) { return; }
      var t = $("review");
      clear(t);
      function used(s) { return s ? new Date(s).toLocaleDateString() : "never"; }
      (rep.consumers || []).forEach(function (c) {
        (c.flags || []).forEach(function (f) { row(t, [c.id, "consumer", "", f]); });
        (c.roles || []).forEach(function (r) { (r.flags || []).forEach(function (f) { row(t, [c.id, "role " + r.name, used(r.last_used), f]); }); });
        (c.keys || []).forEach(function (k) { (k.flags || []).forEach(function (f) { row(t, [c.id, "key " + k.id + " (" + k.age_days + " days old)", used(k.last_used), f]); }); });
        (c.grants || []).forEach(function (g) { (g.flags || []).forEach(function (f) { row(t, [c.id, "grant of " + g.role + " until " + new Date(g.expires_at).toLocaleString(), "", f]); }); });
      });
      $("review-summary").textContent = rep.findings + " findings among " + (rep.consumers || []).length +
        " consumers (unused after " + rep.unused_after + ", grants lapsing within " + rep.lapse_within + ")";
    }, function (err) { $("review-summary").textContent = "The access review could not be loaded: " + err; });
  }
  refresh();
  review();
  setInterval(refresh, 2000);
  setInterval(review, 60000);
})();
