/* Dify Service API docs: tabs, copy, highlighting and samples filled from the reader's app.
   No dependencies; the sample generators mirror spectools/docs/samples.py line for line. */
(function () {
  "use strict";
  var KEY_ENV = "DIFY_API_KEY";

  // ---- sample generators (twin of spectools/docs/samples.py) ---------------------------------
  function qv(v) { return typeof v === "boolean" ? (v ? "true" : "false") : String(v); }
  function enc(s) {
    return encodeURIComponent(s).replace(/[!'()*]/g, function (c) {
      return "%" + c.charCodeAt(0).toString(16).toUpperCase();
    }).replace(/%20/g, "+");
  }
  function queryObj(q) { var o = {}; Object.keys(q).forEach(function (k) { o[k] = qv(q[k]); }); return o; }
  function baseJoin(m) { return m.base_url.replace(/\/+$/, "") + m.path; }
  function fullUrl(m) {
    var url = baseJoin(m), keys = Object.keys(m.query || {});
    if (keys.length) url += "?" + keys.map(function (k) { return enc(k) + "=" + enc(qv(m.query[k])); }).join("&");
    return url;
  }
  function sh(t) { return "'" + t.replace(/'/g, "'\\''") + "'"; }
  function dumps(v) { return JSON.stringify(v, null, 2); }
  function hasBody(m) { return m.json_body !== null && m.json_body !== undefined; }

  function curl(m) {
    var lines = ["curl " + (m.streaming ? "-N " : "") + "--fail-with-body -X " + m.method + " " + sh(fullUrl(m))];
    lines.push('-H "Authorization: Bearer $' + KEY_ENV + '"');
    if (hasBody(m)) {
      lines.push("-H 'Content-Type: application/json'");
      lines.push("-d " + sh(dumps(m.json_body)));
    }
    (m.form || []).forEach(function (f) { lines.push("-F " + sh(f[2] === "file" ? f[0] + "=@" + f[1] + (f[3] ? ";type=" + f[3] : "") : f[0] + "=" + f[1])); });
    if (m.response === "binary") lines.push("-o " + sh(m.output));
    return lines.join(" \\\n  ");
  }

  function pyLiteral(v, indent) {
    var pad = "    ".repeat(indent + 1), end = "    ".repeat(indent);
    if (v === null || v === undefined) return "None";
    if (typeof v === "boolean") return v ? "True" : "False";
    if (typeof v === "number" || typeof v === "string") return JSON.stringify(v);
    if (Array.isArray(v)) {
      if (!v.length) return "[]";
      return "[\n" + v.map(function (x) { return pad + pyLiteral(x, indent + 1) + ",\n"; }).join("") + end + "]";
    }
    var keys = Object.keys(v);
    if (!keys.length) return "{}";
    return "{\n" + keys.map(function (k) { return pad + JSON.stringify(String(k)) + ": " + pyLiteral(v[k], indent + 1) + ",\n"; }).join("") + end + "}";
  }

  function python(m) {
    var args = ["    " + JSON.stringify(baseJoin(m)) + ",", '    headers={"Authorization": f"Bearer {API_KEY}"},'];
    if (Object.keys(m.query || {}).length) args.push("    params=" + pyLiteral(queryObj(m.query), 1) + ",");
    if (hasBody(m)) args.push("    json=" + pyLiteral(m.json_body, 1) + ",");
    var form = m.form || [];
    var files = form.filter(function (f) { return f[2] === "file"; });
    var data = {}, hasData = false;
    form.forEach(function (f) { if (f[2] !== "file") { data[f[0]] = f[1]; hasData = true; } });
    if (files.length) {
      args.push("    files={" + files.map(function (f) {
        return f[3] ? JSON.stringify(f[0]) + ": (" + JSON.stringify(f[1]) + ", open(" + JSON.stringify(f[1]) + ', "rb"), ' + JSON.stringify(f[3]) + ")"
          : JSON.stringify(f[0]) + ": open(" + JSON.stringify(f[1]) + ', "rb")';
      }).join(", ") + "},");
    }
    if (hasData) args.push("    data=" + pyLiteral(data, 1) + ",");
    var head = (m.streaming ? ["import json"] : []).concat(["import os", "", "import httpx", "", "API_KEY = os.environ[" + JSON.stringify(KEY_ENV) + "]", ""]);
    if (m.streaming) {
      return head.concat(["with httpx.stream(", "    " + JSON.stringify(m.method) + ","], args, [
        "    timeout=None,", ") as response:", "    response.raise_for_status()",
        "    for line in response.iter_lines():", '        if line.startswith("data: "):  # skips the keep-alive "event: ping"',
        '            event = json.loads(line[len("data: "):])', '            print(event["event"], event)']).join("\n");
    }
    var short = ["GET", "POST", "PUT", "PATCH", "DELETE"].indexOf(m.method) >= 0 && !(m.method === "DELETE" && hasBody(m));
    var call = short
      ? ["response = httpx." + m.method.toLowerCase() + "("].concat(args)
      : ["response = httpx.request(", "    " + JSON.stringify(m.method) + ","].concat(args);
    call = call.concat(["    timeout=60,", ")", "response.raise_for_status()"]);
    if (m.response === "binary") call = call.concat(["with open(" + JSON.stringify(m.output) + ', "wb") as out:', "    out.write(response.content)"]);
    else if (m.response === "empty") call.push("print(response.status_code)");
    else call.push("print(response.json())");
    return head.concat(call).join("\n");
  }

  function javascript(m) {
    var url = baseJoin(m), lines = [], form = m.form || [];
    if (form.some(function (f) { return f[2] === "file"; })) lines.push('import { openAsBlob } from "node:fs";');
    if (m.response === "binary") lines.push('import { writeFile } from "node:fs/promises";');
    if (lines.length) lines.push("");
    if (form.length) {
      lines.push("const form = new FormData();");
      form.forEach(function (f) {
        var v = JSON.stringify(f[1]);
        lines.push(f[2] === "file" ? "form.append(" + JSON.stringify(f[0]) + ", await openAsBlob(" + v + (f[3] ? ", { type: " + JSON.stringify(f[3]) + " }" : "") + "), " + v + ");"
          : "form.append(" + JSON.stringify(f[0]) + ", " + v + ");");
      });
    }
    var target = JSON.stringify(url);
    if (Object.keys(m.query || {}).length) {
      lines.push("const params = new URLSearchParams(" + dumps(queryObj(m.query)) + ");");
      target = "`" + url + "?${params}`";
    }
    lines.push("const response = await fetch(" + target + ", {");
    lines.push("  method: " + JSON.stringify(m.method) + ",");
    lines.push("  headers: {");
    lines.push("    Authorization: `Bearer ${process.env." + KEY_ENV + "}`,");
    if (hasBody(m)) lines.push('    "Content-Type": "application/json",');
    lines.push("  },");
    if (hasBody(m)) lines.push("  body: JSON.stringify(" + dumps(m.json_body).replace(/\n/g, "\n  ") + "),");
    else if (form.length) lines.push("  body: form,");
    lines.push("});");
    lines.push("if (!response.ok) throw new Error(`${response.status}: ${await response.text()}`);");
    if (m.streaming) {
      lines = lines.concat([
        "const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();",
        'let buffer = "";', "for (;;) {", "  const { value, done } = await reader.read();", "  if (done) break;",
        "  buffer += value;", '  const frames = buffer.split("\\n\\n");', "  buffer = frames.pop();",
        "  for (const frame of frames) {", '    if (!frame.startsWith("data: ")) continue; // e.g. the keep-alive "event: ping"',
        "    const event = JSON.parse(frame.slice(6));", "    console.log(event.event, event);", "  }", "}"]);
    } else if (m.response === "binary") {
      lines.push("await writeFile(" + JSON.stringify(m.output) + ", Buffer.from(await response.arrayBuffer()));");
    } else if (m.response === "empty") {
      lines.push("console.log(response.status);");
    } else {
      lines.push("console.log(await response.json());");
    }
    return lines.join("\n");
  }
  var GENERATORS = { curl: curl, python: python, javascript: javascript };

  // ---- highlighting -------------------------------------------------------------------
  function esc(s) { return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;"); }
  var RULES = {
    json: [[/"(?:[^"\\]|\\.)*"(?=\s*:)/y, "key"], [/"(?:[^"\\]|\\.)*"/y, "str"], [/-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y, "num"], [/\b(?:true|false|null)\b/y, "kw"]],
    python: [[/#[^\n]*/y, "com"], [/f?"(?:[^"\\\n]|\\.)*"/y, "str"], [/\b(?:import|from|with|as|for|in|if|print|None|True|False|def|return)\b/y, "kw"], [/\b\d+(?:\.\d+)?\b/y, "num"]],
    js: [[/\/\/[^\n]*/y, "com"], [/"(?:[^"\\\n]|\\.)*"|`(?:[^`\\]|\\.)*`/y, "str"], [/\b(?:const|let|await|for|if|break|continue|new|true|false|null)\b/y, "kw"], [/\b\d+(?:\.\d+)?\b/y, "num"]],
    bash: [[/'(?:[^'])*'|"(?:[^"\\]|\\.)*"/y, "str"], [/(?:^|\s)-[A-Za-z]\b/y, "kw"], [/\bcurl\b/y, "kw"]],
    sse: [[/^data: /my, "ev"], [/^event: \w+/my, "ev"], [/"(?:[^"\\]|\\.)*"(?=\s*:)/y, "key"], [/"(?:[^"\\]|\\.)*"/y, "str"], [/-?\d+(?:\.\d+)?/y, "num"], [/\b(?:true|false|null)\b/y, "kw"]]
  };
  function highlight(text, lang) {
    var rules = RULES[lang];
    if (!rules) return esc(text);
    var out = "", i = 0, plain = "";
    while (i < text.length) {
      var hit = null;
      for (var r = 0; r < rules.length && !hit; r++) {
        rules[r][0].lastIndex = i;
        var m = rules[r][0].exec(text);
        if (m && m.index === i && m[0].length) hit = [m[0], rules[r][1]];
      }
      if (hit) {
        out += esc(plain) + '<span class="tok-' + hit[1] + '">' + esc(hit[0]) + "</span>";
        plain = ""; i += hit[0].length;
      } else { plain += text[i]; i++; }
    }
    return out + esc(plain);
  }
  function paint(code) {
    var cls = (code.className.match(/lang-(\w+)/) || [])[1];
    code.innerHTML = highlight(code.textContent, cls);
  }

  // ---- tabs and copy --------------------------------------------------------------------
  function initSamples(box) {
    box.querySelectorAll("[data-tab]").forEach(function (btn) {
      btn.addEventListener("click", function () {
        box.querySelectorAll("[data-tab]").forEach(function (b) { b.setAttribute("aria-selected", String(b === btn)); });
        box.querySelectorAll("[data-panel]").forEach(function (p) { p.hidden = p.getAttribute("data-panel") !== btn.getAttribute("data-tab"); });
      });
    });
    var copy = box.querySelector("[data-copy]");
    if (copy) copy.addEventListener("click", function () {
      var panel = box.querySelector("[data-panel]:not([hidden]) code");
      if (panel && navigator.clipboard) navigator.clipboard.writeText(panel.textContent);
    });
  }

  function regenerate(box, model) {
    Object.keys(GENERATORS).forEach(function (name) {
      var code = box.querySelector('[data-sample="' + name + '"]');
      if (code) { code.textContent = GENERATORS[name](model); paint(code); }
    });
  }

  // ---- inputs from the reader's app (key stays in memory, never in a URL or storage) ---
  function inputsFrom(params) {
    var inputs = {};
    (params.user_input_form || []).forEach(function (item) {
      var kind = Object.keys(item)[0], spec = item[kind] || {};
      if (!spec.variable) return;
      var v = spec["default"];
      if (v === undefined || v === null || v === "") {
        if (kind === "select") v = (spec.options || [])[0] || "";
        else if (kind === "number") v = 0;
        else if (kind === "checkbox") v = false;
        else if (kind === "file") v = { type: "document", transfer_method: "local_file", upload_file_id: "<upload_file_id>" };
        else if (kind === "file-list") v = [{ type: "document", transfer_method: "local_file", upload_file_id: "<upload_file_id>" }];
        else v = spec.label ? String(spec.label) : spec.variable;
      }
      inputs[spec.variable] = v;
    });
    return inputs;
  }

  function applyInputs(inputs) {
    document.querySelectorAll(".samples").forEach(function (box) {
      var el = box.querySelector(".sample-model");
      var model = JSON.parse(el.textContent);
      if (model.json_body && typeof model.json_body === "object" && "inputs" in model.json_body) {
        model.json_body.inputs = inputs;
        el.textContent = JSON.stringify(model);
        regenerate(box, model);
        var ex = document.getElementById(box.getAttribute("data-op") + "-request-example");
        var code = ex && ex.querySelector("code");
        if (code) { code.textContent = dumps(model.json_body); paint(code); }
      }
    });
  }

  function initKeyBox() {
    var input = document.getElementById("app-key"), button = document.getElementById("app-key-load");
    var status = document.getElementById("app-key-status");
    if (!input || !button) return;
    var base = document.body.getAttribute("data-base-url").replace(/\/+$/, "");
    button.addEventListener("click", function () {
      var key = input.value.trim();
      if (!key) return;
      var headers = { Authorization: "Bearer " + key };
      status.textContent = "…";
      Promise.all([
        fetch(base + "/parameters", { headers: headers, credentials: "omit" }).then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); }),
        fetch(base + "/info", { headers: headers, credentials: "omit" }).then(function (r) { return r.ok ? r.json() : {}; }).catch(function () { return {}; })
      ]).then(function (res) {
        applyInputs(inputsFrom(res[0]));
        var mode = res[1] && res[1].mode, page = document.body.getAttribute("data-page");
        status.textContent = status.getAttribute("data-ok");
        if (mode && mode !== page) {
          status.textContent += " " + status.getAttribute("data-mismatch") + " ";
          var a = document.createElement("a"); a.href = mode + ".html"; a.textContent = mode; status.appendChild(a);
        }
      }).catch(function (err) {
        status.textContent = status.getAttribute("data-fail") + " (" + err.message + ")";
      });
    });
  }

  // ---- navigation: the menu on narrow screens, the language switch keeps the anchor ----
  function initNav() {
    var toggle = document.querySelector(".menu-toggle"), nav = document.getElementById("sidebar");
    if (toggle && nav) {
      toggle.addEventListener("click", function () {
        var open = document.body.classList.toggle("nav-open");
        toggle.setAttribute("aria-expanded", String(open));
      });
      nav.addEventListener("click", function (e) {
        if (e.target.closest("a")) { document.body.classList.remove("nav-open"); toggle.setAttribute("aria-expanded", "false"); }
      });
    }
    document.querySelectorAll(".langs a").forEach(function (a) {
      a.addEventListener("click", function () {
        a.setAttribute("href", a.getAttribute("href").split("#")[0] + location.hash);
      });
    });
  }

  // ---- offline search over every page of this language (search-index.js) --------------
  function initSearch() {
    var input = document.getElementById("search"), list = document.getElementById("search-results");
    var index = window.difyDocsIndex || [];
    if (!input || !list) return;
    function run() {
      var q = input.value.trim().toLowerCase();
      list.textContent = "";
      if (!q) { list.hidden = true; return; }
      var terms = q.split(/\s+/), hits = [];
      index.forEach(function (e) {
        var title = e[2].toLowerCase(), hay = title + " " + e[3].toLowerCase() + " " + e[1].toLowerCase();
        if (terms.every(function (t) { return hay.indexOf(t) >= 0; })) {
          hits.push([terms.every(function (t) { return title.indexOf(t) >= 0; }) ? 0 : 1, e]);
        }
      });
      hits.sort(function (a, b) { return a[0] - b[0]; });
      hits.slice(0, 20).forEach(function (h) {
        var e = h[1], li = document.createElement("li"), a = document.createElement("a");
        a.href = e[0] + ".html" + (e[1] ? "#" + e[1] : "");
        a.textContent = e[2];
        var where = document.createElement("span"); where.className = "where"; where.textContent = e[4] || e[0];
        a.appendChild(where);
        li.appendChild(a); list.appendChild(li);
      });
      if (!hits.length) { var none = document.createElement("li"); none.className = "none"; none.textContent = list.getAttribute("data-none"); list.appendChild(none); }
      list.hidden = false;
    }
    input.addEventListener("input", run);
    input.addEventListener("keydown", function (e) {
      if (e.key === "Enter") { var first = list.querySelector("a"); if (first) { e.preventDefault(); location.href = first.href; } }
      if (e.key === "Escape") { input.value = ""; run(); }
    });
    list.addEventListener("click", function () { list.hidden = true; });
  }

  // ---- try it: send the request with the pasted key and show the answer live -----------
  function currentKey() { var k = document.getElementById("app-key"); return k ? k.value.trim() : ""; }
  function initTry(panel) {
    var op = panel.getAttribute("data-op"), send = panel.querySelector(".try-send");
    if (!send) return;
    var boxes = Array.prototype.slice.call(document.querySelectorAll('.samples[data-op="' + op + '"]'));
    var url = panel.querySelector(".try-url"), body = panel.querySelector(".try-body");
    var status = panel.querySelector(".try-status"), out = panel.querySelector(".try-out code");
    function variant() {
      var checked = panel.querySelector(".try-variants input:checked");
      var box = boxes[checked ? Number(checked.value) : 0];
      return JSON.parse(box.querySelector(".sample-model").textContent);
    }
    function fill() {
      var m = variant();
      url.value = fullUrl(m);
      var has = hasBody(m);
      body.value = has ? dumps(m.json_body) : "";
      body.parentNode.hidden = !has;
    }
    panel.addEventListener("toggle", function () { if (panel.open) fill(); });
    panel.querySelectorAll(".try-variants input").forEach(function (r) { r.addEventListener("change", fill); });
    send.addEventListener("click", function () {
      var key = currentKey(), m = variant();
      if (!key) { status.textContent = status.getAttribute("data-need-key"); return; }
      var init = { method: m.method, headers: { Authorization: "Bearer " + key }, credentials: "omit" };
      if (hasBody(m)) { init.headers["Content-Type"] = "application/json"; init.body = body.value; }
      out.textContent = ""; status.textContent = "…";
      fetch(url.value, init).then(function (r) {
        status.textContent = r.status + " " + (r.headers.get("content-type") || "");
        var ctype = r.headers.get("content-type") || "";
        if (ctype.indexOf("text/event-stream") >= 0 && r.body) {
          var reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
          var pump = function () {
            return reader.read().then(function (res) {
              if (res.done) return;
              out.textContent += res.value;
              out.parentNode.scrollTop = out.parentNode.scrollHeight;
              return pump();
            });
          };
          return pump();
        }
        if (ctype.indexOf("json") >= 0) return r.json().then(function (j) { out.textContent = dumps(j); paint(out); });
        return r.blob().then(function (b) { out.textContent = b.type + ", " + b.size + " bytes"; });
      }).catch(function (err) { status.textContent = String(err); });
    });
  }

  window.difyDocs = { generators: GENERATORS, inputsFrom: inputsFrom, applyInputs: applyInputs };
  initNav();
  initSearch();
  document.querySelectorAll("details.try").forEach(initTry);
  document.querySelectorAll(".samples").forEach(initSamples);
  document.querySelectorAll("pre.code code").forEach(paint);
  initKeyBox();
})();
