// The audit log: GET /api/v1/admin/audit with the form's filters, oldest first, a page at a time.
import { api, h, fmtTime, showError, toast } from "./console.js";

const ROLES = {
  resident: "居民", party_member: "党员", grid_staff: "网格员", officer: "执法队员", police: "民警",
  health_staff: "防疫人员", admin: "管理员", employer: "企业用人单位", employment_staff: "就业服务专员",
  system: "系统", device: "设备",
};
const OUTCOMES = {
  ok: "已查询", refused_no_reason: "拒绝：无事由", refused_search_key: "拒绝：查询方式有误",
  refused_role: "拒绝：无权查询", refused_rate_limit: "拒绝：超出次数", invalid_query: "拒绝：查询有误",
  invalid_value: "拒绝：内容有误", refused_limit_unavailable: "拒绝：暂不可用",
};

const KEYS = {
  by: "查询方式", value: "查询内容", query: "查询内容", case_no: "案件编号", outcome: "结果", result_count: "查到数量", bikes: "车辆",
  note: "备注", scope: "范围", device: "设备", building: "楼栋", ends_at: "截止", fields: "字段",
};

const form = document.getElementById("filters");
const actions = JSON.parse(form.dataset.actions || "{}");
const body = document.querySelector("#entries tbody");
const status = document.getElementById("status");
const prev = document.getElementById("prev");
const next = document.getElementById("next");
let cursors = [null]; // the cursor of each page shown so far
let nextAfter = null;

// A datetime-local value is Beijing time; the API wants an offset.
const toIso = (local) => (local ? `${local.length === 16 ? `${local}:00` : local}+08:00` : "");
const fromIso = (iso) => {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  return new Date(date.getTime() + 8 * 3600_000).toISOString().slice(0, 16);
};

function filters() {
  const data = new FormData(form);
  const query = new URLSearchParams();
  const actor = String(data.get("actor") || "").trim();
  if (actor) query.set("actor", actor);
  if (data.get("action")) query.set("action", String(data.get("action")));
  if (data.get("since")) query.set("since", toIso(String(data.get("since"))));
  if (data.get("until")) query.set("until", toIso(String(data.get("until"))));
  query.set("limit", String(data.get("limit") || "50"));
  return query;
}

function details(entry) {
  const items = Object.entries(entry.details || {}).map(([key, value]) => {
    const text = key === "outcome" ? (OUTCOMES[value] || value) : typeof value === "string" ? value : JSON.stringify(value);
    return h("li", {}, `${KEYS[key] || key}：${text}`);
  });
  if (entry.client_addr) items.push(h("li", {}, `来源地址：${entry.client_addr}`));
  if (entry.scope) items.push(h("li", {}, `范围：${entry.scope}`));
  return items.length ? h("ul", { class: "details" }, items) : "—";
}

function row(entry) {
  return h("tr", { dataset: { seq: entry.seq } },
    h("td", { "data-label": "编号" }, String(entry.seq)),
    h("td", { "data-label": "时间" }, fmtTime(entry.at)),
    h("td", { "data-label": "操作人" }, h("span", { class: "actor" }, entry.actor), " ", h("span", { class: "badge info" }, ROLES[entry.role] || entry.role)),
    h("td", { "data-label": "操作" }, actions[entry.action] || entry.action),
    h("td", { "data-label": "对象" }, entry.target || "—"),
    h("td", { "data-label": "事由" }, entry.reason || "—"),
    h("td", { "data-label": "详情" }, details(entry)));
}

async function load() {
  const query = filters();
  const cursor = cursors[cursors.length - 1];
  if (cursor !== null) query.set("after", String(cursor));
  status.textContent = "加载中…";
  try {
    const page = await api("GET", `/api/v1/admin/audit?${query}`);
    body.replaceChildren(...page.items.map(row));
    nextAfter = page.next_after;
    status.textContent = page.items.length
      ? `第 ${cursors.length} 页，共 ${page.items.length} 条`
      : "没有符合条件的记录。";
  } catch (err) {
    body.replaceChildren();
    nextAfter = null;
    status.textContent = "";
    showError(err);
  }
  prev.disabled = cursors.length <= 1;
  next.disabled = nextAfter === null;
}

function fromAddress() {
  const given = new URLSearchParams(location.search);
  form.elements.actor.value = given.get("actor") || "";
  const action = given.get("action") || "";
  if (action && ![...form.elements.action.options].some((o) => o.value === action)) {
    form.elements.action.append(h("option", { value: action }, action));
  }
  form.elements.action.value = action;
  form.elements.since.value = given.get("since") ? fromIso(given.get("since")) : "";
  form.elements.until.value = given.get("until") ? fromIso(given.get("until")) : "";
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const query = filters();
  query.delete("limit");
  history.replaceState(null, "", `${location.pathname}${query.size ? `?${query}` : ""}`);
  cursors = [null];
  load();
});
form.addEventListener("reset", () => {
  setTimeout(() => form.requestSubmit(), 0);
});
next.addEventListener("click", () => { if (nextAfter !== null) { cursors.push(nextAfter); load(); } });
prev.addEventListener("click", () => { if (cursors.length > 1) { cursors.pop(); load(); } });

// The chain's state (district administration only: the button is there for them alone).
const verify = document.getElementById("verify");
if (verify) {
  const chain = document.getElementById("chain");
  verify.addEventListener("click", async () => {
    verify.disabled = true;
    chain.className = "hint";
    chain.textContent = "校验中…";
    try {
      const result = await api("GET", "/api/v1/admin/audit/verify");
      chain.className = result.ok ? "badge ok" : "badge bad";
      chain.textContent = result.ok
        ? `哈希链完整：已校验全部 ${result.checked} 条记录。`
        : `哈希链已断开：第 ${result.broken_seq} 条记录被改动或缺失（其前 ${result.checked} 条完好）。`;
    } catch (err) {
      chain.textContent = "";
      if (err.code === "district_only") toast("只有区级管理员可以校验哈希链。", { bad: true });
      else showError(err);
    } finally {
      verify.disabled = false;
    }
  });
}

fromAddress();
load();
