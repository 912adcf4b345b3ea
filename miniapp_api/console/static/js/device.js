// A device's page: its facts (GET /api/v1/devices/<id>) and a chart of one metric by the hour
// (GET /api/v1/devices/<id>/readings), drawn with the vendored ECharts (global `echarts`).
import { api, h, fmtTime, showError } from "./console.js";

const box = document.getElementById("device");
const id = box.dataset.device;
const labels = JSON.parse(box.dataset.labels || "{}");
const facts = document.getElementById("facts");
const metric = document.getElementById("metric");
const span = document.getElementById("span");
const chartBox = document.getElementById("chart");
const emptyNote = document.getElementById("chart-empty");
const chart = echarts.init(chartBox);
window.addEventListener("resize", () => chart.resize());

const HOUR = new Intl.DateTimeFormat("zh-CN", { timeZone: "Asia/Shanghai", month: "2-digit", day: "2-digit", hour: "2-digit", hour12: false });

async function loadFacts() {
  try {
    const d = await api("GET", `/api/v1/devices/${encodeURIComponent(id)}`);
    const rows = [
      ["编号", d.serial], ["类型", (labels.device_type || {})[d.type] || d.type], ["型号", d.model || "—"],
      ["楼栋", d.building || "—"], ["网格", d.node], ["安装位置", d.place || "—"],
      ["状态", d.active ? "在用" : "停用"], ["最近上报", d.last_seen_at ? fmtTime(d.last_seen_at) : "—"],
    ];
    facts.replaceChildren(...rows.flatMap(([t, v]) => [h("dt", {}, t), h("dd", {}, String(v))]));
  } catch (err) {
    showError(err);
  }
}

async function loadChart() {
  const from = new Date(Date.now() - Number(span.value) * 3600_000).toISOString();
  const query = new URLSearchParams({ metric: metric.value, from });
  try {
    const answer = await api("GET", `/api/v1/devices/${encodeURIComponent(id)}/readings?${query}`);
    const points = answer.points || [];
    emptyNote.hidden = points.length > 0;
    const hours = points.map((p) => HOUR.format(new Date(p.hour)));
    const name = metric.options[metric.selectedIndex].textContent;
    chart.setOption({
      animation: false,
      tooltip: { trigger: "axis" },
      legend: { data: ["平均", "最高", "最低"], bottom: 0 },
      grid: { left: 48, right: 16, top: 32, bottom: 48, containLabel: true },
      xAxis: { type: "category", data: hours },
      yAxis: { type: "value", name, scale: true },
      series: [
        { name: "平均", type: "line", data: points.map((p) => Number(p.avg.toFixed(2))), showSymbol: points.length < 50 },
        { name: "最高", type: "line", data: points.map((p) => p.max), showSymbol: false, lineStyle: { type: "dashed" } },
        { name: "最低", type: "line", data: points.map((p) => p.min), showSymbol: false, lineStyle: { type: "dotted" } },
      ],
    }, true);
    chartBox.dataset.points = String(points.length);
  } catch (err) {
    showError(err);
  }
}

metric.addEventListener("change", loadChart);
span.addEventListener("change", loadChart);
loadFacts();
loadChart();
