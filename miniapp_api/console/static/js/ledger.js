// The ledger pages. 诉求台账: GET /api/v1/clinic/ledger (the figures, in the caller's scope: the API
// decides) added up by category, node and period, drawn with ECharts, and the same numbers in a table
// under each chart; GET /api/v1/clinic/hot for the hot topics. 就业台账: GET /api/v1/jobs/ledger by
// month, occupation and node. The downloads are the APIs' own format=csv|xlsx with the page's filters.
import { api, h, messageFor } from "./console.js";

const form = document.getElementById("filters");
const status = document.getElementById("status");
const charts = {};
const JOBS = form.dataset.ledger === "jobs";
const FIELDS = JOBS ? ["from", "to"] : ["period", "since", "until", "node", "category"];
const ENDPOINT = JOBS ? "/api/v1/jobs/ledger" : "/api/v1/clinic/ledger";

// Beijing's calendar day, as the ledger counts days.
function beijingDate(date) {
  return new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai" }).format(date);
}

function defaults() {
  const until = new Date();
  const since = new Date(until.getTime() - 83 * 86400000); // twelve weeks
  const year = new Date(until.getTime() - 364 * 86400000);
  return {
    period: "week", since: beijingDate(since), until: beijingDate(until), node: "", category: "",
    from: beijingDate(year), to: beijingDate(until),
  };
}

function filters() {
  const params = new URLSearchParams();
  for (const name of FIELDS) {
    const value = form.elements[name].value;
    if (value) params.set(name, value);
  }
  return params;
}

// "2026-W47" → "2026年第47周", "2026-11" → "2026年11月" (the ledger's periods, Beijing time).
export function periodLabel(period) {
  const week = /^(\d{4})-W(\d{2})$/.exec(period);
  if (week) return `${week[1]}年第${Number(week[2])}周`;
  const month = /^(\d{4})-(\d{2})$/.exec(period);
  return month ? `${month[1]}年${Number(month[2])}月` : period;
}

// Every period from one Beijing date to another ("2026-W47" ISO weeks or "2026-11" months), so a week
// without reports shows as a zero in the trend instead of being left out.
export function periodsBetween(since, until, period) {
  const found = [];
  const end = Date.parse(`${until}T00:00:00Z`);
  for (let t = Date.parse(`${since}T00:00:00Z`); t <= end && found.length < 500; t += 86400000) {
    const day = new Date(t);
    let key;
    if (period === "month") {
      key = day.toISOString().slice(0, 7);
    } else {
      const thursday = new Date(t + (3 - ((day.getUTCDay() + 6) % 7)) * 86400000);
      const firstOfYear = Date.UTC(thursday.getUTCFullYear(), 0, 1);
      const week = Math.floor((thursday.getTime() - firstOfYear) / 86400000 / 7) + 1;
      key = `${thursday.getUTCFullYear()}-W${String(week).padStart(2, "0")}`;
    }
    if (found[found.length - 1] !== key) found.push(key);
  }
  return found;
}

const pct = (part, whole) => (whole ? Math.round((part / whole) * 1000) / 10 : null);
const show = (value, unit = "") => (value === null || value === undefined ? "—" : `${value}${unit}`);

// Rows of the ledger added up under a key: counts are sums, and the rates and the average are recomputed
// from the sums the API gives for that (kept: the base of its rates; satisfaction_points: the ratings).
export function sumBy(rows, keyOf, labelOf) {
  const groups = new Map();
  for (const row of rows) {
    const key = keyOf(row);
    const g = groups.get(key) || { key, label: labelOf(row), count: 0, kept: 0, open: 0, overdue: 0,
      completed: 0, rejected: 0, rated: 0, points: 0 };
    g.count += row.count; g.kept += row.kept; g.open += row.open; g.overdue += row.overdue;
    g.completed += row.completed; g.rejected += row.rejected; g.rated += row.rated;
    g.points += row.satisfaction_points;
    groups.set(key, g);
  }
  for (const g of groups.values()) {
    g.completionRate = pct(g.completed, g.kept);
    g.onTimeRate = pct(g.kept - g.overdue, g.kept);
    g.satisfaction = g.rated ? Math.round((g.points / g.rated) * 100) / 100 : null;
  }
  return [...groups.values()];
}

function table(id, caption, columns, items) {
  const el = document.getElementById(id);
  el.replaceChildren(
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, columns.map(([label, , num]) => h("th", { scope: "col", class: num ? "num" : null }, label)))),
    h("tbody", {}, items.length
      ? items.map((item) => h("tr", {}, columns.map(([label, value, num]) =>
          h("td", { "data-label": label, class: num ? "num" : null }, value(item)))))
      : h("tr", {}, h("td", { colspan: columns.length, class: "empty" }, "所选范围内没有数据。"))),
  );
}

// The vendored ECharts build has no legend or tooltip: the key is a list under the chart (text, in the
// page's own colours) and the exact numbers are in the table.
const COLOURS = ["#0969da", "#1a7f37", "#9a6700", "#b3261e"];

function chart(id, option) {
  const el = document.getElementById(`chart-${id}`);
  let instance = charts[id];
  if (!instance) {
    instance = echarts.init(el, null, { renderer: "canvas" });
    charts[id] = instance;
    new ResizeObserver(() => instance.resize()).observe(el);
    el.after(h("ul", { class: "key", id: `key-${id}`, "aria-hidden": "true" }));
  }
  instance.setOption({
    animation: false,
    color: COLOURS,
    grid: { left: 8, right: 16, top: 16, bottom: 8, containLabel: true },
    ...option,
  }, { notMerge: true });
  document.getElementById(`key-${id}`).replaceChildren(
    ...option.series.map((series, i) => h("li", { class: `s${i}` }, series.name)),
  );
}

function bars(id, items, name) {
  const labels = items.map((g) => g.label);
  chart(id, {
    yAxis: { type: "category", data: labels, inverse: true, axisLabel: { width: 110, overflow: "truncate" } },
    xAxis: { type: "value", minInterval: 1 },
    series: [
      { name, type: "bar", data: items.map((g) => g.count) },
      { name: "已办结", type: "bar", data: items.map((g) => g.completed) },
    ],
  });
}

const COUNT_COLUMNS = [
  ["诉求数", (g) => g.count, true],
  ["已办结", (g) => g.completed, true],
  ["未办结", (g) => g.open, true],
  ["超时", (g) => g.overdue, true],
  ["办结率", (g) => show(g.completionRate, "%"), true],
];

function render(rows, params) {
  const all = sumBy(rows, () => "all", () => "合计")[0];
  const totals = document.getElementById("totals");
  const tile = (label, value) => h("div", {}, h("dt", {}, label), h("dd", {}, value));
  totals.replaceChildren(
    tile("诉求数", String(all ? all.count : 0)),
    tile("办结率", show(all && all.completionRate, "%")),
    tile("按时率", show(all && all.onTimeRate, "%")),
    tile("平均满意度", show(all && all.satisfaction)),
  );

  const byCategory = sumBy(rows, (r) => r.category, (r) => r.category_name).sort((a, b) => b.count - a.count);
  bars("category", byCategory, "诉求数");
  table("table-category", "按类别统计", [["类别", (g) => g.label], ...COUNT_COLUMNS], byCategory);

  const byNode = sumBy(rows, (r) => r.node, (r) => r.node_name || r.node).sort((a, b) => b.count - a.count);
  bars("node", byNode, "诉求数");
  table("table-node", "按节点统计", [["节点", (g) => g.label], ["编码", (g) => g.key], ...COUNT_COLUMNS], byNode);

  const summed = new Map(sumBy(rows, (r) => r.period, (r) => periodLabel(r.period)).map((g) => [g.key, g]));
  const period = params.get("period") || "week";
  const keys = new Set([...periodsBetween(params.get("since"), params.get("until"), period), ...summed.keys()]);
  const nothing = (key) => ({ key, label: periodLabel(key), count: 0, kept: 0, open: 0, overdue: 0, completed: 0,
    rejected: 0, rated: 0, points: 0, completionRate: null, onTimeRate: null, satisfaction: null });
  const byPeriod = [...keys].sort().map((key) => summed.get(key) || nothing(key));
  const periods = byPeriod.map((g) => g.label);
  chart("trend", {
    xAxis: { type: "category", data: periods },
    yAxis: { type: "value", minInterval: 1 },
    series: [
      { name: "诉求数", type: "line", data: byPeriod.map((g) => g.count) },
      { name: "已办结", type: "line", data: byPeriod.map((g) => g.completed) },
    ],
  });
  table("table-trend", "按周期统计", [["周期", (g) => g.label], ...COUNT_COLUMNS], byPeriod);

  chart("rates", {
    xAxis: { type: "category", data: periods },
    yAxis: { type: "value", max: 100, axisLabel: { formatter: "{value}%" } },
    series: [
      { name: "办结率", type: "line", data: byPeriod.map((g) => g.completionRate) },
      { name: "按时率", type: "line", data: byPeriod.map((g) => g.onTimeRate) },
    ],
  });
  table("table-rates", "办结率 = 已办结 ÷ 受理数（不含合并）；按时率 = 未超时 ÷ 受理数", [
    ["周期", (g) => g.label],
    ["受理数", (g) => g.kept, true],
    ["办结率", (g) => show(g.completionRate, "%"), true],
    ["按时率", (g) => show(g.onTimeRate, "%"), true],
  ], byPeriod);

  chart("satisfaction", {
    xAxis: { type: "category", data: periods },
    yAxis: { type: "value", min: 0, max: 5 },
    series: [{ name: "平均满意度", type: "bar", data: byPeriod.map((g) => g.satisfaction) }],
  });
  table("table-satisfaction", "满意度 1–5 分：评价分数之和 ÷ 评价数", [
    ["周期", (g) => g.label],
    ["平均满意度", (g) => show(g.satisfaction), true],
    ["评价数", (g) => g.rated, true],
  ], byPeriod);

  table("table-rows", "台账明细", [
    ["周期", (r) => periodLabel(r.period)], ["节点", (r) => r.node_name || r.node], ["类别", (r) => r.category_name],
    ["诉求数", (r) => r.count, true], ["未办结", (r) => r.open, true], ["超时", (r) => r.overdue, true],
    ["已办结", (r) => r.completed, true], ["办结率", (r) => show(pct(r.completed, r.kept), "%"), true],
    ["退单", (r) => r.rejected, true], ["平均办理时长(小时)", (r) => show(r.avg_handling_hours), true],
    ["P90办理时长(小时)", (r) => show(r.p90_handling_hours), true],
    ["平均满意度", (r) => show(r.avg_satisfaction), true], ["评价数", (r) => r.rated, true],
  ], rows);
}

function renderHot(hot) {
  const terms = hot.terms;
  document.getElementById("hot-week").textContent =
    `${hot.week} 起的一周（按截止日期），您的辖区内共 ${hot.reports} 件诉求；较上周上升的词：`;
  chart("hot", {
    yAxis: { type: "category", data: terms.map((t) => t.term), inverse: true },
    xAxis: { type: "value", minInterval: 1 },
    series: [
      { name: "本周", type: "bar", data: terms.map((t) => t.count) },
      { name: "上周", type: "bar", data: terms.map((t) => t.previous) },
    ],
  });
  table("table-hot", "热点词", [
    ["词", (t) => t.term], ["本周", (t) => t.count, true], ["上周", (t) => t.previous, true],
    ["相关词", (t) => t.related.join("、")],
  ], terms);
}

function setDownloads(params) {
  for (const format of ["csv", "xlsx"]) {
    const link = document.getElementById(`download-${format}`);
    const query = new URLSearchParams(params);
    query.set("format", format);
    link.href = `${ENDPOINT}?${query}`;
  }
}

async function load() {
  const params = filters();
  history.replaceState(null, "", `?${params}`);
  setDownloads(params);
  status.textContent = "正在加载…";
  status.className = "hint";
  form.setAttribute("aria-busy", "true");
  try {
    let total;
    if (JOBS) {
      const ledger = await api("GET", `${ENDPOINT}?${params}`);
      renderJobs(ledger.items);
      total = ledger.items.reduce((n, r) => n + r.postings, 0);
      status.textContent = ledger.items.length ? `共 ${total} 个岗位。` : "所选范围内没有数据。";
    } else {
      const [ledger, hot] = await Promise.all([
        api("GET", `${ENDPOINT}?${params}`),
        api("GET", `/api/v1/clinic/hot?week=${encodeURIComponent(params.get("until") || "")}`),
      ]);
      render(ledger.items, params);
      renderHot(hot);
      total = ledger.items.reduce((n, r) => n + r.count, 0);
      status.textContent = total ? `共 ${total} 件诉求。` : "所选范围内没有诉求。";
    }
    document.body.dataset.loaded = params.toString();
  } catch (err) {
    status.textContent = messageFor(err);
    status.className = "error";
    for (const el of document.querySelectorAll("table.figures")) el.replaceChildren();
    for (const instance of Object.values(charts)) instance.clear();
    document.getElementById("totals").replaceChildren();
  } finally {
    form.removeAttribute("aria-busy");
  }
}

// The jobs ledger: counts only, so adding rows up is exact.
const JOB_FIGURES = [
  ["postings", "发布岗位数"], ["openings", "招聘人数"], ["applications", "求职投递"],
  ["invitations", "企业邀约"], ["hires", "录用人数"],
];

function jobSums(rows, keyOf, labelOf) {
  const groups = new Map();
  for (const row of rows) {
    const key = keyOf(row);
    const g = groups.get(key) || { key, label: labelOf(row), ...Object.fromEntries(JOB_FIGURES.map(([f]) => [f, 0])) };
    for (const [f] of JOB_FIGURES) g[f] += row[f];
    groups.set(key, g);
  }
  return [...groups.values()];
}

function renderJobs(rows) {
  const all = jobSums(rows, () => "all", () => "合计")[0];
  const tile = (label, value) => h("div", {}, h("dt", {}, label), h("dd", {}, value));
  document.getElementById("totals").replaceChildren(
    ...JOB_FIGURES.map(([f, label]) => tile(label, String(all ? all[f] : 0))),
  );
  const columns = JOB_FIGURES.map(([f, label]) => [label, (g) => g[f], true]);
  const byMonth = jobSums(rows, (r) => r.month, (r) => periodLabel(r.month)).sort((a, b) => (a.key < b.key ? -1 : 1));
  chart("month", {
    xAxis: { type: "category", data: byMonth.map((g) => g.label) },
    yAxis: { type: "value", minInterval: 1 },
    series: [["postings", "发布岗位数"], ["applications", "求职投递"], ["invitations", "企业邀约"], ["hires", "录用人数"]]
      .map(([f, name]) => ({ name, type: "line", data: byMonth.map((g) => g[f]) })),
  });
  table("table-month", "按月份统计", [["月份", (g) => g.label], ...columns], byMonth);
  for (const [id, keyOf, labelOf, heading] of [
    ["occupation", (r) => r.occupation, (r) => r.occupation_name || r.occupation, "职业中类"],
    ["node", (r) => r.node, (r) => r.node_name || r.node, "节点"],
  ]) {
    const items = jobSums(rows, keyOf, labelOf).sort((a, b) => b.openings - a.openings);
    chart(id, {
      yAxis: { type: "category", data: items.map((g) => g.label), inverse: true,
        axisLabel: { width: 110, overflow: "truncate" } },
      xAxis: { type: "value", minInterval: 1 },
      series: [
        { name: "招聘人数", type: "bar", data: items.map((g) => g.openings) },
        { name: "录用人数", type: "bar", data: items.map((g) => g.hires) },
      ],
    });
    table(`table-${id}`, `按${heading}统计`, [[heading, (g) => g.label], ["编码", (g) => g.key], ...columns], items);
  }
  table("table-rows", "台账明细", [
    ["月份", (r) => periodLabel(r.month)], ["节点", (r) => r.node_name || r.node], ["职业中类", (r) => r.occupation_name],
    ...columns,
  ], rows);
}

async function init() {
  const asked = new URLSearchParams(location.search);
  const start = defaults();
  for (const name of FIELDS) form.elements[name].value = asked.get(name) || start[name];
  try {
    if (!JOBS) await fillChoices(asked);
  } catch (err) {
    status.textContent = messageFor(err);
    status.className = "error";
    return;
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  await load();
}

// The node and category choices: the caller's node and those under it (the hierarchy API), and the
// categories (the reports API).
async function fillChoices(asked) {
  const [me, categories] = await Promise.all([api("GET", "/api/v1/me"), api("GET", "/api/v1/report-categories")]);
  const nodeSelect = form.elements.node;
  if (me.account.node) {
    const nodes = await api("GET", `/api/v1/hierarchy/nodes?limit=1000&under=${encodeURIComponent(me.account.node)}`);
    const depth = (node) => node.path.split("/").filter(Boolean).length;
    const top = Math.min(...nodes.items.map(depth));
    for (const node of nodes.items) {
      const indent = "　".repeat(depth(node) - top);
      nodeSelect.append(h("option", { value: node.code }, `${indent}${node.name}（${node.code}）`));
    }
  }
  for (const category of categories.items) {
    form.elements.category.append(h("option", { value: category.key }, category.name));
  }
  // A choice given in the address that is not offered stays selected: the API decides and says why.
  for (const name of ["node", "category"]) {
    const value = asked.get(name);
    const select = form.elements[name];
    if (value && ![...select.options].some((o) => o.value === value)) select.append(h("option", { value }, value));
    if (value) select.value = value;
  }
}

init();
