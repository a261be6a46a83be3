/* chatprep report: charts (Chart.js), the sample viewer, blurred flagged text, print handling.
   User text is only ever put into the page with textContent, never as markup. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var specs = {};
  (data.charts || []).forEach(function (s) { specs[s.id] = s; });

  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }
  function fmt(n) {
    return typeof n === "number" ? n.toLocaleString("en-US", {maximumFractionDigits: 2}) : String(n);
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  /* ---- charts ------------------------------------------------------------------------------ */
  // A vertical marker line (e.g. the model's token limit) at a fractional category position.
  var markerPlugin = {
    id: "chatprepMarker",
    afterDatasetsDraw: function (chart) {
      var m = chart.options.plugins.chatprepMarker;
      if (!m || m.at === undefined || m.at === null) return;
      var x = chart.scales.x, area = chart.chartArea, n = chart.data.labels.length;
      if (!n) return;
      var first = x.getPixelForValue(0);
      var step = n > 1 ? (x.getPixelForValue(n - 1) - first) / (n - 1) : (area.right - area.left);
      var px = Math.max(area.left + 1, Math.min(first - step / 2 + m.at * step, area.right - 1));
      var ctx = chart.ctx;
      ctx.save();
      ctx.strokeStyle = m.color; ctx.lineWidth = 2; ctx.setLineDash([6, 4]);
      ctx.beginPath(); ctx.moveTo(px, area.top); ctx.lineTo(px, area.bottom); ctx.stroke();
      ctx.setLineDash([]); ctx.fillStyle = m.color; ctx.font = "600 12px system-ui, sans-serif";
      ctx.textAlign = px > (area.left + area.right) / 2 ? "right" : "left";
      ctx.fillText(m.label, px + (ctx.textAlign === "right" ? -6 : 6), area.top + 12);
      ctx.restore();
    }
  };

  function palette() {
    return ["--c1", "--c2", "--c4", "--c5", "--c3", "--c6"].map(cssVar);
  }

  function chartConfig(spec) {
    var colors = palette(), fg = cssVar("--mut"), grid = cssVar("--grid");
    var horizontal = spec.kind === "hbar" || spec.kind === "stacked_hbar";
    var stacked = spec.kind === "stacked_hbar";
    var line = spec.kind === "line";
    var datasets = spec.datasets.map(function (d, i) {
      var c = colors[i % colors.length];
      return line
        ? {label: d.label, data: d.data, borderColor: c, backgroundColor: c, borderWidth: 2, pointRadius: 2,
           cubicInterpolationMode: "monotone", fill: false}
        : {label: d.label, data: d.data, backgroundColor: c, borderWidth: 0,
           barPercentage: spec.kind === "bar" ? 1 : 0.8, categoryPercentage: spec.kind === "bar" ? 0.92 : 0.8};
    });
    var valueAxis = {beginAtZero: true, stacked: stacked, grid: {color: grid}, ticks: {color: fg, precision: 0},
                     title: {display: !!spec.y_title, text: spec.y_title || "", color: fg},
                     type: spec.log ? "logarithmic" : "linear"};
    if (spec.log) {
      valueAxis.min = 0.5;  // counts: keep a bar of 1 visible
      valueAxis.ticks.callback = function (v) { return Number.isInteger(v) && /^[13]0*$/.test(String(v)) ? fmt(v) : ""; };
    }
    var catAxis = {stacked: stacked, grid: {display: false}, ticks: {color: fg, autoSkip: true, maxRotation: 50},
                   title: {display: !!spec.x_title && !horizontal, text: spec.x_title || "", color: fg}};
    if (horizontal) valueAxis.title = {display: !!spec.x_title, text: spec.x_title || "", color: fg};
    return {
      type: line ? "line" : "bar",
      data: {labels: spec.labels, datasets: datasets},
      options: {
        indexAxis: horizontal ? "y" : "x", animation: false, responsive: true, maintainAspectRatio: false,
        scales: horizontal ? {x: valueAxis, y: catAxis} : {x: catAxis, y: valueAxis},
        plugins: {
          legend: {display: datasets.length > 1, labels: {color: fg, boxWidth: 12}},
          tooltip: {callbacks: {label: function (c) {
            return (c.dataset.label ? c.dataset.label + ": " : "") + fmt(c.raw) + (spec.percent ? " %" : "");
          }}},
          chatprepMarker: spec.marker ? {at: spec.marker.at, label: spec.marker.label, color: cssVar("--bad")} : null
        }
      },
      plugins: [markerPlugin]
    };
  }

  var charts = [];
  function drawCharts() {
    charts.forEach(function (c) { c.destroy(); });
    charts = [];
    if (typeof Chart === "undefined") return;
    document.querySelectorAll("figure.chart[data-chart]").forEach(function (fig) {
      var spec = specs[fig.getAttribute("data-chart")];
      var canvas = fig.querySelector("canvas");
      if (!spec || !canvas) return;
      charts.push(new Chart(canvas, chartConfig(spec)));
    });
    document.body.setAttribute("data-charts", String(charts.length));
  }

  /* ---- sample viewer ----------------------------------------------------------------------- */
  var PAGE = 10;
  var examples = (data.samples && data.samples.examples) || [];
  var approx = data.samples && data.samples.tokens_estimate ? "≈ " : "";  // counted with an estimating tokenizer
  var state = {query: "", split: "", page: 0};
  var haystacks = null;

  function haystack(i) {
    if (!haystacks) {
      haystacks = examples.map(function (e) {
        return [e.id, e.source, e.split, (e.flags || []).join(" ")].concat(
          e.messages.map(function (m) { return m.role + " " + m.text; })).join("\n").toLowerCase();
      });
    }
    return haystacks[i];
  }

  function renderExample(e) {
    var box = el("article", "example");
    box.setAttribute("data-example-id", e.id);
    var meta = el("div", "meta");
    meta.appendChild(el("span", "split-" + e.split, e.split));
    meta.appendChild(el("span", "", e.source + (e.rows && e.rows.length ? " rows " + e.rows.join(", ") : "")));
    if (e.n_tokens !== undefined) meta.appendChild(el("span", "", approx + fmt(e.n_tokens) + " tokens"));
    if (e.n_assistant_tokens !== undefined) meta.appendChild(el("span", "", approx + fmt(e.n_assistant_tokens) + " assistant tokens"));
    if (e.language) meta.appendChild(el("span", "", "language " + e.language));
    (e.flags || []).forEach(function (f) { meta.appendChild(el("span", "tag", f)); });
    meta.appendChild(el("code", "", e.id));
    box.appendChild(meta);
    var chat = el("div", "chat");
    e.messages.forEach(function (m) {
      var role = m.role.split(" ")[0];
      var known = ["system", "user", "assistant", "tool", "function", "developer"].indexOf(role) >= 0;
      var b = el("div", "bubble " + (known ? role : "other"));
      var label = m.role + (m.name ? " (" + m.name + ")" : "") + (m.weight === 0 ? " · weight 0" : "");
      var r = el("span", "role", label);
      b.appendChild(r);
      b.appendChild(el("span", "tokens", m.tokens !== undefined ? approx + fmt(m.tokens) + " tokens" : fmt(m.text.length) + " chars"));
      b.appendChild(el("div", "text", m.text));
      chat.appendChild(b);
    });
    if (e.more) chat.appendChild(el("div", "more", "… " + fmt(e.more) + " more messages"));
    box.appendChild(chat);
    return box;
  }

  function renderViewer() {
    var list = document.getElementById("viewer-list");
    if (!list) return;
    var q = state.query.toLowerCase();
    var hits = [];
    examples.forEach(function (e, i) {
      if (state.split && e.split !== state.split) return;
      if (q && haystack(i).indexOf(q) < 0) return;
      hits.push(e);
    });
    var pages = Math.max(1, Math.ceil(hits.length / PAGE));
    state.page = Math.min(state.page, pages - 1);
    list.textContent = "";
    hits.slice(state.page * PAGE, state.page * PAGE + PAGE).forEach(function (e) {
      list.appendChild(renderExample(e));
    });
    if (!hits.length) list.appendChild(el("p", "mut", examples.length ? "No example matches." : "No exported examples."));
    document.getElementById("viewer-status").textContent = hits.length
      ? "page " + (state.page + 1) + " of " + pages + " · " + fmt(hits.length) + " matching" : "0 matching";
    document.getElementById("viewer-prev").disabled = state.page === 0;
    document.getElementById("viewer-next").disabled = state.page >= pages - 1;
  }

  function setupViewer() {
    var search = document.getElementById("viewer-search");
    if (!search) return;
    var timer = null;
    search.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { state.query = search.value; state.page = 0; renderViewer(); }, 120);
    });
    document.getElementById("viewer-split").addEventListener("change", function (ev) {
      state.split = ev.target.value; state.page = 0; renderViewer();
    });
    document.getElementById("viewer-prev").addEventListener("click", function () { state.page--; renderViewer(); });
    document.getElementById("viewer-next").addEventListener("click", function () { state.page++; renderViewer(); });
    renderViewer();
  }

  /* ---- flagged text, printing -------------------------------------------------------------- */
  function setupBlur() {
    document.querySelectorAll(".blur").forEach(function (b) {
      function reveal() { b.classList.add("shown"); b.removeAttribute("role"); }
      b.addEventListener("click", reveal);
      b.addEventListener("keydown", function (ev) { if (ev.key === "Enter" || ev.key === " ") reveal(); });
    });
  }

  var closedForPrint = [];
  window.addEventListener("beforeprint", function () {
    closedForPrint = Array.prototype.filter.call(document.querySelectorAll("details"), function (d) { return !d.open; });
    closedForPrint.forEach(function (d) { d.open = true; });
  });
  window.addEventListener("afterprint", function () {
    closedForPrint.forEach(function (d) { d.open = false; });
    closedForPrint = [];
  });

  function run(name, fn) {
    try { fn(); } catch (err) { console.error("chatprep report: " + name + " failed: " + err); }
  }
  run("charts", drawCharts);
  run("viewer", setupViewer);
  run("blur", setupBlur);
  if (window.matchMedia) {
    var mq = window.matchMedia("(prefers-color-scheme: dark)");
    if (mq.addEventListener) mq.addEventListener("change", function () { run("charts", drawCharts); });
  }
  document.body.setAttribute("data-ready", "yes");
})();
