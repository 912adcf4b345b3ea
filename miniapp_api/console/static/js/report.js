// One report: GET /api/v1/reports/{id} (text, state, history), its photos, its building, the clinic's
// insight and duplicate group, and a form for each action this role may take from the current state.
import { api, h, fmtTime, countdown, toast, showError } from "./console.js";

const root = document.getElementById("report");
const id = root.dataset.id;
const roleMay = new Set((root.dataset.roleMay || "").split(" ").filter(Boolean));
const maySetCategory = root.dataset.setCategory === "1";
const mayMergeGroup = root.dataset.mergeGroup === "1";
const base = `/api/v1/reports/${encodeURIComponent(id)}`;

const ACTIONS = {
  accept: { title: "受理", button: "受理" },
  dispatch: { title: "派单", button: "派单" },
  start: { title: "开始处理", button: "开始处理" },
  reject: { title: "退单", button: "退单", reason: "退单原因" },
  resolve: { title: "办结", button: "办结" },
  confirm: { title: "评价", button: "提交评价" },
  reopen: { title: "重启", button: "重启", reason: "重启原因" },
  close: { title: "关闭", button: "关闭" },
  return: { title: "退回", button: "退回", reason: "退回原因" },
  resubmit: { title: "重新提交", button: "重新提交" },
  merge: { title: "合并到其他诉求", button: "合并" },
  submit: { title: "提交" },
  recategorise: { title: "更正类别" },
  confirm_category: { title: "确认类别" },
};
const ROLES = {
  grid_staff: "网格员", officer: "执法队员", police: "民警", admin: "管理员", party_member: "党员",
  resident: "居民", reporter: "诉求人", system: "系统", health_staff: "防疫人员", employment_staff: "就业服务专员",
};
const STATES = {
  submitted: "已提交", accepted: "已受理", dispatched: "已派单", in_progress: "处理中", resolved: "已办结",
  confirmed: "已评价", closed: "已关闭", rejected: "已退单", returned: "已退回", reopened: "已重启", merged: "已合并",
};
const CHANNELS = { party_member: "党员代报", board: "党员联系牌", building: "楼栋码", grid_staff: "网格员上报", miniapp: "小程序" };

let report = null;
let insight = null;
let group = null;
let categories = [];
let departments = []; // {code, name}: GET /api/v1/report-departments

const $ = (name) => document.getElementById(name);

function facts(list, pairs) {
  list.replaceChildren(...pairs.filter(([, v]) => v !== null && v !== undefined && v !== "")
    .flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

function showHeader() {
  const state = $("state");
  state.textContent = report.state_name;
  state.className = `badge ${report.overdue ? "bad" : "info"}`;
  const due = $("due");
  if (report.due_at) {
    const left = countdown(report.due_at);
    const late = report.overdue || left.overdue;
    due.textContent = late && !left.overdue ? "已超时" : left.text;
    due.className = late ? "overdue due" : "due";
  } else {
    due.textContent = "";
  }
  $("text").textContent = report.text;
  facts($("facts"), [
    ["类别", report.category_name],
    ["承办部门", report.department || "未派单"],
    ["建议部门", departmentName(report.suggested_department)],
    ["来源", CHANNELS[report.channel] || report.channel],
    ["诉求人", report.anonymous ? "匿名" : report.reporter],
    ["提交时间", fmtTime(report.created_at)],
    ["时限", report.due_at ? fmtTime(report.due_at) : ""],
    ["满意度", report.satisfaction ? `${report.satisfaction} / 5` : ""],
    ["评价", report.comment],
    ["合并到", report.merged_into ? h("a", { href: `/console/reports/${encodeURIComponent(report.merged_into)}` }, report.merged_into) : ""],
    ["关注人数", String(report.followers)],
  ]);
}

function actorName(event) {
  const role = ROLES[event.role] || event.role;
  if (!event.actor || event.actor === event.role) return role;
  return `${role}（${event.actor}）`;
}

function stateChange(event) {
  const to = STATES[event.to_state] || event.to_state;
  if (!event.from_state || event.from_state === event.to_state) return to;
  return `${STATES[event.from_state] || event.from_state} → ${to}`;
}

function showHistory() {
  $("history-rows").replaceChildren(...report.timeline.map((e) => h("tr", {},
    h("td", { "data-label": "时间" }, fmtTime(e.at)),
    h("td", { "data-label": "操作" }, (ACTIONS[e.action] || {}).title || e.action),
    h("td", { "data-label": "状态" }, stateChange(e)),
    h("td", { "data-label": "操作人" }, actorName(e)),
    h("td", { "data-label": "说明", class: "report-text" }, e.note || ""),
  )));
}

function field(label, control) {
  return h("label", {}, label, control);
}

function actionForm(action) {
  const spec = ACTIONS[action];
  const controls = [];
  const note = h("textarea", { name: "note", maxlength: "500", required: spec.reason ? true : null, rows: "2" });
  if (action === "dispatch") {
    // Empty: the routing rule decides (its choice is named); otherwise the department chosen.
    const rule = departmentName(report.suggested_department);
    controls.push(field("承办部门", h("select", { name: "department" },
      h("option", { value: "" }, rule ? `按派单规则（${rule}）` : "按派单规则"),
      ...departments.filter((d) => !d.node || report.node.startsWith(d.node))  // a street's own serves it only
        .map((d) => h("option", { value: d.code }, d.name)))));
  }
  if (action === "merge") {
    const options = group ? group.members.filter((m) => m.id !== report.id) : [];
    const input = h("input", { name: "merge_into", maxlength: "16", required: true, list: "merge-options", placeholder: "主诉求编号（rp_…）" });
    controls.push(field("合并到（主诉求）", input));
    controls.push(h("datalist", { id: "merge-options" }, ...options.map((m) => h("option", { value: m.id }, `${m.report_no} ${m.excerpt}`))));
  }
  if (action === "confirm") {
    controls.push(field("满意度（1-5）", h("select", { name: "satisfaction", required: true },
      ...[5, 4, 3, 2, 1].map((n) => h("option", { value: String(n) }, String(n))))));
  }
  controls.push(field(spec.reason ? `${spec.reason}（必填）` : "备注（选填）", note));
  const form = h("form", { class: "action-form", dataset: { action } },
    h("h3", {}, spec.title),
    h("div", { class: "row" }, ...controls, h("button", { type: "submit", class: "primary" }, spec.button)));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const body = { action, note: String(data.get("note") || "").trim() };
    if (spec.reason && !body.note) { toast(`请填写${spec.reason}。`, { bad: true }); return; }
    if (data.get("department")) body.department = String(data.get("department")).trim();
    if (data.get("merge_into")) body.merge_into = String(data.get("merge_into")).trim();
    if (data.get("satisfaction")) body.satisfaction = Number(data.get("satisfaction"));
    await submitting(form, async () => {
      await api("POST", `${base}/transitions`, body);
      toast(`已${spec.title}。`);
    });
  });
  return form;
}

async function submitting(form, work) {
  const buttons = form.querySelectorAll("button");
  buttons.forEach((b) => { b.disabled = true; });
  try {
    await work();
    await reload();
  } catch (err) {
    showError(err);
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
  }
}

function showActions() {
  const allowed = report.allowed_actions.filter((a) => roleMay.has(a) && ACTIONS[a]);
  const box = $("actions");
  if (!allowed.length) {
    box.replaceChildren(h("p", { class: "empty" }, "当前状态下您没有可执行的操作。"));
    return;
  }
  box.replaceChildren(h("div", { class: "actions-list" }, ...allowed.map(actionForm)));
}

async function showPhotos() {
  const box = $("photos");
  try {
    const list = await api("GET", `${base}/photos`);
    box.replaceChildren(...list.items.map((p, i) => h("a", { href: p.url, target: "_blank", rel: "noopener" },
      h("img", { src: p.url, alt: `现场照片 ${i + 1}`, width: String(p.width), height: String(p.height), loading: "lazy" }))));
  } catch (err) {
    showError(err);
  }
}

async function showPlace() {
  const pairs = [["社区", report.place], ["网格", report.node], ["楼栋编码", report.building]];
  if (report.lat !== null && report.lng !== null) pairs.push(["坐标", `${report.lat.toFixed(5)}, ${report.lng.toFixed(5)}`]);
  if (report.building) {
    try {
      const b = await api("GET", `/api/v1/buildings/${encodeURIComponent(report.building)}`);
      pairs.push(["地址", b.address], ["所属网格", b.grid_name || b.grid],
        ["楼层 / 户数 / 人数", `${b.occupancy.floors} 层 / ${b.occupancy.households} 户 / ${b.occupancy.residents} 人`]);
    } catch (err) {
      if (err.status !== 403 && err.status !== 404) showError(err);
    }
  }
  if (!report.building) pairs.push(["楼栋", "未关联楼栋"]);
  if (report.board) {
    try {
      const board = await api("GET", `/api/v1/boards/${encodeURIComponent(report.board)}`);
      pairs.push(["党员联系牌", `${board.title}（${board.code}）`], ["在岗党员", `${board.members.length} 人`]);
    } catch (err) {
      pairs.push(["党员联系牌", report.board]);
      if (err.status !== 404) showError(err);
    }
  }
  facts($("place"), pairs);
}

// The clinic's view of the report: its suggestion and, when it has one, its duplicate group.
async function readInsight() {
  let found = null;
  let members = null;
  try {
    found = await api("GET", `/api/v1/clinic/reports/${encodeURIComponent(id)}/insight`);
  } catch (err) {
    showError(err);
    return [null, null];
  }
  if (found.group && found.group_size > 1) {
    try {
      members = await api("GET", `/api/v1/clinic/groups/${encodeURIComponent(found.group)}`);
    } catch (err) {
      if (err.status !== 404) showError(err);
    }
  }
  return [found, members];
}

function showInsight() {
  if (!insight) {
    facts($("insight"), [["分析", "暂时无法读取"]]);
    return;
  }
  facts($("insight"), insight.analysed ? [
    ["建议类别", insight.suggested_category_name || "无把握的建议"],
    ["置信度", insight.confidence !== null ? `${Math.round(insight.confidence * 100)}%` : ""],
    ["建议部门", departmentName(insight.suggested_department)],
    ["模型版本", insight.model_version],
  ] : [["分析", "尚未完成分析"]]);
}

function showDuplicates() {
  const box = $("duplicates");
  const others = group ? group.members.filter((m) => m.id !== id) : [];
  if (!others.length) {
    box.replaceChildren(h("p", { class: "empty" }, "暂无相似诉求。"));
    return;
  }
  const list = h("ul", { class: "dups" }, ...others.map((m) => h("li", {},
    h("a", { href: `/console/reports/${encodeURIComponent(m.id)}` }, m.report_no), " ",
    h("span", { class: "badge info" }, STATES[m.state] || m.state), " ",
    h("span", { class: "report-text" }, m.excerpt),
    m.similarity !== null ? h("span", { class: "hint" }, `（相似度 ${Math.round(m.similarity * 100)}%）`) : "")));
  const parts = [list];
  if (mayMergeGroup) {
    const button = h("button", { type: "button" }, `将本组 ${group.size} 件合并为一件`);
    const form = h("form", { class: "action-form", dataset: { action: "merge-group" } }, button);
    button.addEventListener("click", () => submitting(form, async () => {
      const out = await api("POST", `/api/v1/clinic/groups/${encodeURIComponent(group.id)}/merge`, {});
      const done = out.results.filter((r) => r.ok).length;
      toast(`已合并 ${done} 件。`);
    }));
    parts.push(form);
  }
  box.replaceChildren(...parts);
}

function showCategoryForm() {
  const box = $("category-form");
  if (!maySetCategory || ["closed", "merged"].includes(report.state) || !categories.length) {
    box.replaceChildren();
    return;
  }
  const select = h("select", { name: "category" }, ...categories.map((c) => h("option", { value: c.key }, c.name)));
  select.value = insight && insight.suggested_category ? insight.suggested_category : report.category;
  const form = h("form", { class: "action-form", dataset: { action: "set-category" } },
    h("h3", {}, "确认或更正类别"),
    h("div", { class: "row" }, field("类别", select),
      field("说明（选填）", h("input", { name: "note", maxlength: "200" })),
      h("button", { type: "submit", class: "primary" }, "保存类别")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    submitting(form, async () => {
      const out = await api("PUT", `${base}/category`, { category: String(data.get("category")), note: String(data.get("note") || "").trim() });
      toast(`类别已设为“${out.category_name}”。`);
    });
  });
  box.replaceChildren(form);
}

// Everything is read first and then drawn at once, so a form is never redrawn under someone typing.
// quiet: a change seen on the stream; if someone changed a form here meanwhile, nothing is redrawn
// (it is checked after the reads, which take time) and the notice offers the refresh instead.
// What was drawn last: two reads that overlap (this page's own action and the stream's news of it) may
// end in either order, and the later one must not redraw the same report under someone's new input.
let drawnKey = "";

async function reload({ quiet = false } = {}) {
  const [found, [clinic, members]] = await Promise.all([api("GET", base), readInsight()]);
  const key = JSON.stringify([found, clinic, members]);
  if (key === drawnKey) return;
  if (quiet && typing()) {
    $("changed").hidden = false;
    return;
  }
  drawnKey = key;
  report = found;
  insight = clinic;
  group = members;
  $("changed").hidden = true;
  $("loading").hidden = true;
  showHeader();
  showHistory();
  showInsight();
  showDuplicates();
  showCategoryForm();
  showActions();
  markDrawn();
  await showPlace();
}

// A department's name for its code (the code itself when the list is not at hand).
function departmentName(code) {
  if (!code) return code;
  const found = departments.find((d) => d.code === code);
  return found ? found.name : code;
}

async function start() {
  try {
    const [cats, deps] = await Promise.all([api("GET", "/api/v1/report-categories"), api("GET", "/api/v1/report-departments")]);
    categories = cats.items;
    departments = deps.items;
  } catch (err) {
    showError(err);
  }
  try {
    await reload();
  } catch (err) {
    $("loading").textContent = "加载失败，请刷新页面重试。";
    showError(err);
    return;
  }
  showPhotos();
}

// Live: the grid feed's stream names each report that changed; this one is read again at once, unless
// someone is typing in a form here (then a notice offers the refresh, so nothing typed is lost).
const formState = (form) => JSON.stringify([...new FormData(form)].map(([k, v]) => [k, String(v)]));

// Each form's values as drawn, to tell later whether someone changed them.
function markDrawn() {
  for (const form of document.querySelectorAll("#report form")) form.dataset.drawn = formState(form);
}

function typing() {
  const active = document.activeElement;
  if (active && active.closest && active.closest("#report form")) return true;
  return [...document.querySelectorAll("#report form")].some((form) => form.dataset.drawn !== formState(form));
}

function follow() {
  const live = $("live");
  const source = new EventSource("/api/v1/grid/feed/stream");
  live.hidden = false;
  source.addEventListener("open", () => { live.textContent = "实时更新中"; live.className = "badge ok"; });
  source.addEventListener("report", (event) => {
    let data = null;
    try { data = JSON.parse(event.data); } catch { return; }
    if (!data || data.id !== id) return;
    reload({ quiet: true }).catch(showError);
  });
  source.addEventListener("error", () => {
    live.textContent = source.readyState === EventSource.CLOSED ? "实时更新已断开，请刷新页面" : "正在重新连接实时更新…";
    live.className = `badge ${source.readyState === EventSource.CLOSED ? "bad" : "warn"}`;
  });
  window.addEventListener("pagehide", () => source.close());
}

$("changed-reload").addEventListener("click", () => {
  $("changed").hidden = true;
  reload().catch(showError);
});

start();
if (root.dataset.live === "1") follow();
