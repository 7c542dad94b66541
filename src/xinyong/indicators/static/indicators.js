/* Charts of the indicator pages (ECharts, vendored). Data comes from the page's
   <script type="application/json" id="xy-chart-data">; no inline script, no CDN. */
(function () {
  "use strict";
  var COLORS = { green: "#16a34a", amber: "#d97706", red: "#dc2626" };

  function readData() {
    var el = document.getElementById("xy-chart-data");
    return el ? JSON.parse(el.textContent || "{}") : {};
  }
  function fmt(unit, v) {
    if (v === null || v === undefined) return "—";
    return unit === "percent" ? (v * 100).toFixed(1) + "%" : Math.round(v).toLocaleString("zh-CN");
  }
  function axis(unit) {
    return { type: "value", axisLabel: { formatter: function (v) { return fmt(unit, v); } },
             max: unit === "percent" ? 1 : null, min: 0 };
  }
  function targetLine(d) {
    if (d.target === null || d.target === undefined) return undefined;
    return { silent: true, symbol: "none", lineStyle: { color: "#b91c1c", type: "dashed" },
             label: { formatter: "目标 " + fmt(d.unit, d.target) }, data: [{ yAxis: d.target }] };
  }
  var charts = [];
  var pending = 0, created = false, readySet = false;

  // data-charts-ready is set once every chart has drawn its first frame and finished its
  // animation, so that what a script or a test clicks is what the reader sees.
  function markReady() {
    if (readySet) return;
    readySet = true;
    document.documentElement.setAttribute("data-charts-ready", String(charts.length));
  }
  function make(el) {
    var chart = echarts.init(el, null, { renderer: "canvas" });
    var done = false;
    pending += 1;
    chart.on("finished", function () {
      if (done) return;
      done = true;
      pending -= 1;
      if (created && pending === 0) markReady();
    });
    charts.push(chart);
    return chart;
  }

  function spark(el, d) {
    var chart = make(el);
    chart.setOption({
      animation: false, grid: { left: 2, right: 2, top: 4, bottom: 2 },
      tooltip: { trigger: "axis", valueFormatter: function (v) { return fmt(d.unit, v); } },
      xAxis: { type: "category", show: false, data: d.trend.map(function (t) { return t.key; }) },
      yAxis: { type: "value", show: false, min: 0, max: d.unit === "percent" ? 1 : null },
      series: [{ type: "line", showSymbol: false, data: d.trend.map(function (t) { return t.value; }),
                 areaStyle: { opacity: 0.15 }, markLine: targetLine(d) }]
    });
  }

  function trendChart(el, d) {
    var chart = make(el);
    chart.setOption({
      tooltip: { trigger: "axis", valueFormatter: function (v) { return fmt(d.unit, v); } },
      grid: { left: 60, right: 70, top: 30, bottom: 40 },
      xAxis: { type: "category", data: d.trend.map(function (t) { return t.label; }) },
      yAxis: axis(d.unit),
      series: [{ type: "line", name: "数值", showSymbol: true, data: d.trend.map(function (t) { return t.value; }),
                 markLine: targetLine(d) }]
    });
  }

  function focusRow(dim, index) {
    var rows = document.querySelectorAll('[data-table="' + dim + '"] tbody tr');
    rows.forEach(function (r) { r.classList.remove("xy-focus"); });
    var row = document.getElementById("row-" + dim + "-" + index);
    if (row) { row.classList.add("xy-focus"); row.scrollIntoView({ block: "center" }); }
  }

  function barChart(el, dim, d) {
    var items = (d.breakdowns[dim] || []).slice(0, 40);
    // One band per group: a few groups give a short chart, forty a tall one.
    el.style.height = Math.max(140, 34 * items.length + 60) + "px";
    var chart = make(el);
    chart.setOption({
      tooltip: { trigger: "axis", valueFormatter: function (v) { return fmt(d.unit, v); } },
      grid: { left: 150, right: 70, top: 20, bottom: 30 },
      xAxis: axis(d.unit),
      yAxis: { type: "category", inverse: true, data: items.map(function (t) { return t.label; }),
               axisLabel: { width: 140, overflow: "truncate" } },
      series: [{ type: "bar", barMaxWidth: 22, data: items.map(function (t) {
        return { value: t.value, itemStyle: { color: COLORS[t.status] || "#64748b" } };
      }), markLine: targetLine(d) }]
    });
    // Drill-down: a bar picks out its row in the table below.
    chart.on("click", function (p) { focusRow(dim, p.dataIndex); });
  }

  function init() {
    if (typeof echarts === "undefined") return;
    var data = readData();
    document.querySelectorAll("[data-spark]").forEach(function (el) {
      var d = data[el.getAttribute("data-spark")];
      if (d && d.trend && d.trend.length) spark(el, d);
    });
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      var dim = el.getAttribute("data-chart");
      if (dim === "month") trendChart(el, data); else barChart(el, dim, data);
    });
    window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
    created = true;
    if (pending === 0) markReady();
    setTimeout(markReady, 5000);  // a chart that cannot draw (hidden) must not hold the page back
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
