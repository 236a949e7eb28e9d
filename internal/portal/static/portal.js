// Rampart developer portal: the try-it console and self-service.
// Everything the page shows from a response is set as text, never as
// markup; the credential lives in sessionStorage only.
(function () {
  "use strict";

  function meta(name) {
    var m = document.querySelector('meta[name="' + name + '"]');
    return m ? m.getAttribute("content") : "";
  }
  // The prefixes of Rampart's problem types: the configured one (the
  // portal's pages by default) and the built-in tag: URI.
  var problemBases = [meta("problem-base"), "tag:rampart-gw.github.io,2026:problems/"].filter(Boolean);
  var base = meta("portal-base");
  var csrf = meta("csrf-token");

  function $(id) { return document.getElementById(id); }
  function show(el, on) { if (el) { el.classList.toggle("hidden", !on); } }
  function text(el, s) { if (el) { el.textContent = s == null ? "" : String(s); } }

  // --- credentials ------------------------------------------------------
  function credential() {
    var kind = $("cred-kind"), value = $("cred-value");
    if (!kind || !value || kind.selectedIndex < 0) { return null; }
    var opt = kind.options[kind.selectedIndex];
    return { auth: opt.value, kind: opt.getAttribute("data-kind"), name: opt.getAttribute("data-name"), value: value.value.trim() };
  }
  function storageKey(auth) { return "rampart.credential." + auth; }
  function setupCredential() {
    var kind = $("cred-kind"), value = $("cred-value"), forget = $("cred-forget");
    if (!kind || !value) { return; }
    var restore = function () { value.value = sessionStorage.getItem(storageKey(kind.value)) || ""; };
    restore();
    kind.addEventListener("change", restore);
    value.addEventListener("input", function () {
      if (value.value) { sessionStorage.setItem(storageKey(kind.value), value.value); } else { sessionStorage.removeItem(storageKey(kind.value)); }
    });
    if (forget) {
      forget.addEventListener("click", function () { sessionStorage.removeItem(storageKey(kind.value)); value.value = ""; });
    }
  }
  // apply puts the credential on a request: a header, or a query parameter.
  function apply(cred, url, headers) {
    if (!cred || !cred.value) { return; }
    switch (cred.kind) {
      case "bearer": headers.set("Authorization", "Bearer " + cred.value); break;
      case "header": headers.set(cred.name, cred.value); break;
      case "query": url.searchParams.set(cred.name, cred.value); break;
      case "cookie": document.cookie = encodeURIComponent(cred.name) + "=" + encodeURIComponent(cred.value) + "; path=/; SameSite=Strict"; break;
    }
  }

  // --- problems ---------------------------------------------------------
  // problemLink is where a problem type is explained: the portal's own
  // page for Rampart's types, the type URI itself only when it is http(s).
  function problemLink(type) {
    if (typeof type !== "string") { return null; }
    for (var i = 0; i < problemBases.length; i++) {
      if (type.indexOf(problemBases[i]) === 0) { return base + "/problems/" + encodeURIComponent(type.slice(problemBases[i].length)); }
    }
    try {
      var u = new URL(type);
      if (u.protocol === "https:" || u.protocol === "http:") { return u.href; }
    } catch (e) { /* not a URL */ }
    return null;
  }
  function showProblem(prefix, p) {
    text($(prefix + "-title"), (p.status ? p.status + " · " : "") + (p.title || "Error"));
    text($(prefix + "-detail"), p.detail || "");
    var link = $(prefix + "-link"), href = problemLink(p.type);
    if (link) { show(link, !!href); if (href) { link.setAttribute("href", href); } }
    text($(prefix + "-request"), p.request_id || "");
    var errs = $(prefix + "-errors");
    if (errs) {
      errs.replaceChildren();
      (Array.isArray(p.errors) ? p.errors : []).forEach(function (e) {
        var li = document.createElement("li");
        li.textContent = (e.location ? e.location + ": " : "") + (e.message || "");
        errs.appendChild(li);
      });
    }
  }
  function isProblem(res) {
    return (res.headers.get("Content-Type") || "").indexOf("application/problem+json") === 0;
  }

  // --- try-it console ---------------------------------------------------
  function setupConsole() {
    var form = $("try-form");
    if (!form) { return; }
    var op = $("try-op"), method = $("try-method"), path = $("try-path");
    var pick = function () {
      if (!op.value) { return; }
      var i = op.value.indexOf(" ");
      method.value = op.value.slice(0, i);
      path.value = op.value.slice(i + 1);
    };
    var wanted = new URLSearchParams(location.search).get("op");
    if (wanted) { for (var i = 0; i < op.options.length; i++) { if (op.options[i].value === wanted) { op.selectedIndex = i; } } }
    pick();
    op.addEventListener("change", pick);
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      send(method.value.trim().toUpperCase() || "GET", path.value.trim(), $("try-query").value.trim(), $("try-body").value);
    });
  }
  function send(method, path, query, body) {
    var url = new URL(path.charAt(0) === "/" ? path : "/" + path, location.origin);
    if (url.origin !== location.origin) { return; } // never another origin
    if (query) { new URLSearchParams(query).forEach(function (v, k) { url.searchParams.append(k, v); }); }
    var headers = new Headers({ "Accept": "application/json, application/problem+json;q=0.9, */*;q=0.5" });
    apply(credential(), url, headers);
    var init = { method: method, headers: headers, credentials: "same-origin", redirect: "manual" };
    if (body && method !== "GET" && method !== "HEAD") { init.body = body; headers.set("Content-Type", "application/json"); }
    var started = performance.now();
    text($("try-status"), "…");
    show($("try-result"), true);
    fetch(url.pathname + url.search, init).then(function (res) {
      return res.text().then(function (raw) { render(res, raw, performance.now() - started); });
    }).catch(function (err) {
      text($("try-status"), "no response");
      text($("try-body-out"), String(err));
      show($("try-problem"), false);
    });
  }
  function render(res, raw, ms) {
    var status = $("try-status");
    text(status, res.status + " " + res.statusText);
    status.className = "status s" + String(res.status).charAt(0);
    text($("try-time"), Math.round(ms) + " ms");
    var lines = [];
    res.headers.forEach(function (v, k) { lines.push(k + ": " + v); });
    text($("try-headers"), lines.join("\n"));
    var pretty = raw;
    try { pretty = JSON.stringify(JSON.parse(raw), null, 2); } catch (e) { /* not JSON */ }
    text($("try-body-out"), pretty);
    var prob = null;
    if (isProblem(res)) { try { prob = JSON.parse(raw); } catch (e) { prob = null; } }
    show($("try-problem"), !!prob);
    if (prob) { showProblem("try-problem", prob); }
  }

  // --- self-service -----------------------------------------------------
  function setupAccount() {
    var form = $("me-form");
    if (!form) { return; }
    form.addEventListener("submit", function (ev) { ev.preventDefault(); loadAccount(); });
  }
  function call(method, path) {
    var url = new URL(base + path, location.origin), headers = new Headers({ "Accept": "application/json" });
    apply(credential(), url, headers);
    if (method !== "GET") { headers.set("X-CSRF-Token", csrf); }
    return fetch(url.pathname + url.search, { method: method, headers: headers, credentials: "same-origin" }).then(function (res) {
      return res.json().then(function (body) { return { res: res, body: body }; }, function () { return { res: res, body: {} }; });
    });
  }
  function failed(r) {
    show($("me-account"), false);
    show($("me-error"), true);
    showProblem("me-error", r.body || {});
  }
  function when(t) { return t ? new Date(t).toLocaleString() : "—"; }
  function cell(tr, s, cls) { var td = document.createElement("td"); td.textContent = s; if (cls) { td.className = cls; } tr.appendChild(td); return td; }
  function clearRows(table) { while (table.rows.length > 1) { table.deleteRow(1); } }
  function loadAccount() {
    call("GET", "/api/me").then(function (r) {
      if (!r.res.ok) { failed(r); return; }
      var a = r.body;
      show($("me-error"), false);
      show($("me-account"), true);
      text($("me-consumer"), a.consumer);
      text($("me-method"), a.authenticator + " (" + a.method + ")");
      text($("me-scopes"), a.scopes.length ? a.scopes.join(", ") : "none");
      text($("me-roles"), a.roles.length ? a.roles.join(", ") : "none");
      var keys = $("me-keys");
      clearRows(keys);
      a.keys.forEach(function (k) {
        var tr = keys.insertRow(-1);
        cell(tr, "rk_" + k.id + "_…" + (k.id === a.key_id ? " (this one)" : ""), "mono");
        cell(tr, k.state);
        cell(tr, when(k.created_at));
        cell(tr, when(k.expires_at));
        cell(tr, when(k.last_used));
        cell(tr, (k.scopes || []).join(", "));
        var td = cell(tr, "");
        if (k.state === "active" && !k.replaced_by) {
          var b = document.createElement("button");
          b.type = "button";
          b.className = "secondary rotate";
          b.setAttribute("data-key", k.id);
          b.textContent = "Rotate";
          b.addEventListener("click", function () { rotate(k.id); });
          td.appendChild(b);
        }
      });
      var apis = $("me-apis");
      clearRows(apis);
      (a.apis || []).forEach(function (x) {
        var tr = apis.insertRow(-1);
        var name = tr.insertCell(-1), link = document.createElement("a");
        link.href = base + "/apis/" + encodeURIComponent(x.route);
        link.textContent = x.title;
        name.appendChild(link);
        cell(tr, x.callable ? "yes" + (x.condition ? " (a condition applies)" : "") : "no: needs " + x.missing.join("; "), x.callable ? "health-up" : "health-down");
      });
      var quotas = $("me-quotas");
      clearRows(quotas);
      a.quotas.forEach(function (q) {
        var tr = quotas.insertRow(-1);
        cell(tr, q.policy); cell(tr, String(q.used)); cell(tr, String(q.limit)); cell(tr, q.period); cell(tr, when(q.resets_at));
      });
    }, function (err) { failed({ body: { title: "No response", detail: String(err) } }); });
  }
  function rotate(id) {
    call("POST", "/api/me/keys/" + encodeURIComponent(id) + "/rotate").then(function (r) {
      if (!r.res.ok) { failed(r); return; }
      var box = $("me-new-key");
      box.replaceChildren();
      var p = document.createElement("p");
      p.textContent = "Your new key, shown this once. Store it now; " + r.body.replaced.id + " keeps working for 24 hours.";
      var code = document.createElement("code");
      code.id = "me-new-key-value";
      code.textContent = r.body.key;
      box.appendChild(p);
      box.appendChild(code);
      show(box, true);
      loadAccount();
    });
  }

  setupCredential();
  setupConsole();
  setupAccount();
})();
