/* Charts of the rating model report (ECharts, vendored with the indicators). Data comes from
   <script type="application/json" id="xy-chart-data">; no inline script, no CDN. */
(function () {
  "use strict";
  var el = document.getElementById("xy-chart-data");
  if (!el || typeof echarts === "undefined") return;
  var d = JSON.parse(el.textContent || "{}");
  var charts = [];
  function bar(id, labels, values, name) {
    var node = document.getElementById(id);
    if (!node) return;
    var c = echarts.init(node, null, { renderer: "canvas" });
    c.setOption({ animation: false, tooltip: { trigger: "axis" }, grid: { left: 60, right: 20, top: 20, bottom: 40 },
      xAxis: { type: "category", data: labels }, yAxis: { type: "value" },
      series: [{ type: "bar", name: name, data: values }] });
    charts.push(c);
  }
  bar("chart-distribution", (d.distribution || []).map(function (g) { return g.grade + " " + g.label; }),
      (d.distribution || []).map(function (g) { return g.count; }), "主体数");
  bar("chart-histogram", (d.histogram || []).map(function (h) { return String(h.from); }),
      (d.histogram || []).map(function (h) { return h.count; }), "主体数");
  bar("chart-effects", (d.effects || []).map(function (e) { return e.name; }),
      (d.effects || []).map(function (e) { return e.sum; }), "合计得分");
  bar("chart-stability", (d.stability || []).map(function (s) { return "#" + s.run_id + " " + s.as_of; }),
      (d.stability || []).map(function (s) { return s.grade_moves; }), "等级变动");
  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
})();
