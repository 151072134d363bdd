// Charts drawn from the table beside each one (ECharts, vendored in static/vendor/echarts).
//
// <div class="chart" data-chart="line|bar|stack" data-chart-table="TABLE-ID"
//      [data-chart-unit="%"] [data-chart-horizontal] role="img" aria-label="…"></div>
// The table holds the numbers, so that they can be read as well as seen: each body row is a
// category (its first cell the label), each header cell marked data-series a series (its
// text the name), each cell of those columns a value (data-value, a number; empty: none).
// Labels are the table's, so in the user's language. Nothing here is inline in a page.
(function () {
  "use strict";
  var charts = [];

  function read(table) {
    var heads = Array.prototype.slice.call(table.querySelectorAll("thead th"));
    var columns = [];
    heads.forEach(function (th, index) {
      if (th.hasAttribute("data-series")) columns.push({ index: index, name: th.textContent.trim() });
    });
    var categories = [];
    var values = columns.map(function () { return []; });
    table.querySelectorAll("tbody tr").forEach(function (tr) {
      var cells = tr.children;
      if (!cells.length || tr.hasAttribute("data-chart-skip")) return;
      categories.push(cells[0].textContent.trim());
      columns.forEach(function (column, i) {
        var cell = cells[column.index];
        var raw = cell ? cell.getAttribute("data-value") : null;
        values[i].push(raw === null || raw === "" ? null : Number(raw));
      });
    });
    return { categories: categories, series: columns.map(function (c, i) {
      return { name: c.name, data: values[i] };
    }) };
  }

  function option(kind, data, unit, horizontal) {
    var type = kind === "line" ? "line" : "bar";
    var format = function (v) { return v === null || v === undefined ? "—" : v + (unit || ""); };
    var category = { type: "category", data: data.categories, axisLabel: { hideOverlap: true } };
    var value = { type: "value", axisLabel: { formatter: function (v) { return v + (unit || ""); } } };
    if (unit === "%") { value.min = 0; value.max = 100; }
    return {
      animation: false,
      // Drawn on the canvas, not as HTML with inline styles (the Content-Security-Policy).
      tooltip: { trigger: "axis", valueFormatter: format, renderMode: "richText" },
      legend: { top: 0 },
      grid: { left: 8, right: 16, top: 36, bottom: 8, containLabel: true },
      xAxis: horizontal ? value : category,
      yAxis: horizontal ? category : value,
      series: data.series.map(function (s) {
        var out = { name: s.name, type: type, data: s.data, connectNulls: false };
        if (kind === "stack") out.stack = "all";
        if (type === "line") out.symbolSize = 5;
        return out;
      }),
    };
  }

  function draw(el) {
    if (el.getAttribute("data-chart-ready") === "true" || !window.echarts) return;
    var table = document.getElementById(el.getAttribute("data-chart-table"));
    if (!table) return;
    var data = read(table);
    if (!data.categories.length) { el.hidden = true; return; }
    var horizontal = el.hasAttribute("data-chart-horizontal");
    if (horizontal) el.style.height = Math.max(160, 28 * data.categories.length + 60) + "px";
    var chart = window.echarts.init(el, null, { renderer: "canvas" });
    chart.setOption(option(el.getAttribute("data-chart"), data,
      el.getAttribute("data-chart-unit"), horizontal));
    el.setAttribute("data-chart-ready", "true");
    charts.push(chart);
  }

  function drawAll(root) {
    var scope = root && root.querySelectorAll ? root : document;
    scope.querySelectorAll("[data-chart]").forEach(draw);
    if (scope.matches && scope.matches("[data-chart]")) draw(scope);
  }

  function resize() {
    charts = charts.filter(function (chart) {
      if (chart.isDisposed() || !document.body.contains(chart.getDom())) {
        if (!chart.isDisposed()) chart.dispose();
        return false;
      }
      chart.resize();
      return true;
    });
  }

  document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  // Content swapped in by htmx (a replay's report) draws its charts too: htmx announces each
  // element it settles with an htmx:load event that bubbles to the document.
  document.addEventListener("htmx:load", function (event) {
    drawAll(event.detail && event.detail.elt);
  });
  window.addEventListener("resize", resize);
  window.addEventListener("beforeprint", resize);
  window.addEventListener("afterprint", resize);
})();
