// Notifications of the administrator's scope (dead letters first) and retry, through
// /api/v1/admin/notifications.
import { api, h, fmtTime, toast, showError } from "./console.js";

const STATUS = {
  pending: ["待发送", "badge info"], sending: ["发送中", "badge info"], sent: ["已发送", "badge ok"],
  failed: ["失败待重试", "badge warn"], dead: ["死信", "badge bad"],
};
const CHANNELS = { wechat: "微信", sms: "短信", email: "邮件", console: "工作台" };
const body = document.querySelector("#notifications tbody");
const empty = document.getElementById("empty");
const more = document.getElementById("more");
const filters = document.getElementById("filters");
const counts = document.getElementById("counts");
let cursor = null;

function recipient(r) {
  if (r.hidden) return "（匿名反映，不显示）";
  return [r.account ? `账号 ${r.account}` : "", r.phone || "", r.email || ""].filter(Boolean).join(" · ") || "—";
}

function channelText(n) {
  const names = (n.channel ? [n.channel] : n.channels || []).map((c) => CHANNELS[c] || c);
  return names.join(" → ") || "—";
}

function row(n) {
  const [label, badge] = STATUS[n.status] || [n.status, "badge"];
  const retry = n.status === "dead" || n.status === "failed"
    ? h("button", { type: "button", class: "primary", onclick: () => retryOne(n) }, "重试")
    : "—";
  return h("tr", { dataset: { id: n.id } },
    h("td", { "data-label": "通知" }, n.title),
    h("td", { "data-label": "收件人" }, recipient(n.recipient)),
    h("td", { "data-label": "状态" }, h("span", { class: badge }, label)),
    h("td", { "data-label": "渠道 / 尝试" }, `${channelText(n)} · ${n.total_attempts} 次`),
    h("td", { "data-label": "最后错误" }, n.last_error || "—"),
    h("td", { "data-label": "创建时间" }, fmtTime(n.created_at)),
    h("td", { "data-label": "操作" }, retry),
  );
}

async function load(reset) {
  if (reset) { cursor = null; body.replaceChildren(); }
  const params = new URLSearchParams({ limit: "50" });
  const status = String(new FormData(filters).get("status") || "");
  if (status) params.set("status", status);
  if (cursor) params.set("cursor", cursor);
  try {
    const page = await api("GET", `/api/v1/admin/notifications?${params}`);
    body.append(...page.items.map(row));
    cursor = page.next_cursor;
    more.hidden = !cursor;
    empty.hidden = body.children.length > 0;
    const c = page.counts || {};
    counts.textContent = `死信 ${c.dead || 0} · 失败 ${c.failed || 0} · 待发送 ${c.pending || 0} · 已发送 ${c.sent || 0}`;
  } catch (err) {
    showError(err);
  }
}

async function retryOne(n) {
  try {
    const updated = await api("POST", `/api/v1/admin/notifications/${encodeURIComponent(n.id)}/retry`);
    const old = body.querySelector(`tr[data-id="${CSS.escape(n.id)}"]`);
    if (old) old.replaceWith(row(updated));
    toast("已重新排队发送。");
  } catch (err) {
    showError(err);
  }
}

filters.addEventListener("submit", (event) => { event.preventDefault(); load(true); });
more.addEventListener("click", () => load(false));
load(true);
