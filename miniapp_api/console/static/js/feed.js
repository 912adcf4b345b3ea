// The grid feed: GET /api/v1/grid/feed with the filters of the address, most urgent first, kept up to
// date by the SSE stream GET /api/v1/grid/feed/stream (EventSource resends Last-Event-ID by itself).
import { api, h, fmtTime, countdown, showError } from "./console.js";

const FEED = "/api/v1/grid/feed";
const STREAM = "/api/v1/grid/feed/stream";
const FILTERS = ["state", "category", "overdue"];

const rows = document.getElementById("rows");
const empty = document.getElementById("empty");
const more = document.getElementById("more");
const live = document.getElementById("live");
const summary = document.getElementById("summary");
const form = document.getElementById("filters");

let items = [];
let nextCursor = null;
let loading = null;

function currentFilters() {
  const params = new URLSearchParams(location.search);
  const out = new URLSearchParams();
  for (const name of FILTERS) {
    const value = params.get(name);
    if (value) out.set(name, value);
  }
  return out;
}

function showFilters() {
  const params = currentFilters();
  for (const name of FILTERS) form.elements[name].value = params.get(name) || "";
}

function cell(label, ...children) {
  return h("td", { "data-label": label }, ...children);
}

function due(item) {
  if (!item.due_at) return h("span", { class: "hint" }, "—");
  const left = countdown(item.due_at);
  const overdue = item.overdue || left.overdue;
  return h("span", { class: overdue ? "overdue due" : "due", "data-due": item.due_at, title: fmtTime(item.due_at) },
    overdue && !left.overdue ? "已超时" : left.text);
}

function stateBadge(item) {
  const kind = item.overdue ? "bad" : ["resolved", "confirmed", "closed"].includes(item.state) ? "ok" : "info";
  return h("span", { class: `badge ${kind}` }, item.state_name);
}

function row(item) {
  const text = item.text.length > 80 ? `${item.text.slice(0, 80)}…` : item.text;
  return h("tr", { dataset: { id: item.id }, class: item.overdue ? "is-overdue" : "" },
    cell("编号", h("a", { href: `/console/reports/${encodeURIComponent(item.id)}` }, item.report_no)),
    cell("类别", item.category_name),
    cell("内容", h("span", { class: "report-text" }, text)),
    cell("地点", [item.place || "", item.building ? ` · ${item.building}` : ""].join("")),
    cell("状态", stateBadge(item)),
    cell("时限", due(item)),
    cell("提交时间", fmtTime(item.created_at)),
  );
}

function render() {
  rows.replaceChildren(...items.map(row));
  empty.hidden = items.length > 0;
  more.hidden = !nextCursor;
  const late = items.filter((item) => item.overdue).length;
  summary.textContent = items.length ? `共显示 ${items.length} 件${late ? `，其中 ${late} 件已超时` : ""}。` : "";
}

async function load({ append = false } = {}) {
  const params = currentFilters();
  // A reload keeps as many rows as were shown (after "加载更多"), up to the API's most per page.
  params.set("limit", String(append ? 50 : Math.min(200, Math.max(50, items.length))));
  if (append && nextCursor) params.set("cursor", nextCursor);
  const page = await api("GET", `${FEED}?${params}`);
  items = append ? items.concat(page.items) : page.items;
  nextCursor = page.next_cursor;
  render();
}

// One reload at a time; a change arriving meanwhile asks for one more afterwards.
let again = false;
async function refresh() {
  if (loading) { again = true; return loading; }
  loading = load().catch(showError).finally(() => {
    loading = null;
    if (again) { again = false; refresh(); }
  });
  return loading;
}

function applyFilters() {
  const params = new URLSearchParams();
  for (const name of FILTERS) {
    const value = form.elements[name].value;
    if (value) params.set(name, value);
  }
  const query = params.toString();
  history.replaceState(null, "", query ? `?${query}` : location.pathname);
  refresh();
}

async function loadCategories() {
  try {
    const list = await api("GET", "/api/v1/report-categories");
    const select = form.elements.category;
    const chosen = currentFilters().get("category") || "";
    select.append(...list.items.map((c) => h("option", { value: c.key }, c.name)));
    select.value = chosen;
  } catch (err) {
    showError(err);
  }
}

function setLive(text, kind) {
  live.textContent = text;
  live.className = `badge ${kind}`;
}

// The stream says which report changed; the page reads the feed again, so order and filters stay the API's.
let source = null;
function connect() {
  source = new EventSource(STREAM);
  source.addEventListener("open", () => setLive("实时更新中", "ok"));
  source.addEventListener("report", () => refresh());
  source.addEventListener("error", () => {
    if (source.readyState === EventSource.CLOSED) {
      // Refused (signed out, too many streams, unavailable): try again a little later, and read the
      // feed again then, since what happened meanwhile was not streamed to this page.
      setLive("实时更新已断开，稍后重连", "bad");
      setTimeout(() => { refresh(); connect(); }, 10000);
    } else {
      setLive("正在重新连接实时更新…", "warn");
    }
  });
}

function tick() {
  for (const node of rows.querySelectorAll("[data-due]")) {
    const left = countdown(node.dataset.due);
    if (!node.classList.contains("overdue") || left.overdue) node.textContent = left.text;
    if (left.overdue) node.classList.add("overdue");
  }
}

form.addEventListener("change", applyFilters);
form.addEventListener("submit", (event) => { event.preventDefault(); applyFilters(); });
document.getElementById("f-clear").addEventListener("click", () => { form.reset(); applyFilters(); });
more.addEventListener("click", () => load({ append: true }).catch(showError));
window.addEventListener("popstate", () => { showFilters(); refresh(); });
window.addEventListener("pagehide", () => source && source.close());

showFilters();
loadCategories();
refresh();
connect();
setInterval(tick, 30000);
