// Staff accounts: list (with filters and pages), create, disable and enable, through /api/v1/accounts.
import { api, h, fmtTime, toast, showError } from "./console.js";

const ROLE_NAMES = {
  resident: "居民",
  employer: "企业用人单位",
  ...Object.fromEntries(
    [...document.querySelectorAll("#create select[name=role] option")].map((o) => [o.value, o.textContent]),
  ),
};
const body = document.querySelector("#accounts tbody");
const empty = document.getElementById("empty");
const more = document.getElementById("more");
const filters = document.getElementById("filters");
let after = null;

function query() {
  const params = new URLSearchParams({ limit: "50" });
  const data = new FormData(filters);
  for (const key of ["role", "node"]) {
    const value = String(data.get(key) || "").trim();
    if (value) params.set(key, value);
  }
  if (after) params.set("after", after);
  return params;
}

function row(account) {
  const toggle = h("button", {
    type: "button",
    class: account.is_active ? "danger" : "",
    onclick: () => setActive(account, !account.is_active),
  }, account.is_active ? "停用" : "启用");
  return h("tr", { dataset: { id: account.id } },
    h("td", { "data-label": "用户名" }, account.username || "—"),
    h("td", { "data-label": "角色" }, ROLE_NAMES[account.role] || account.role),
    h("td", { "data-label": "节点" }, account.node || "—"),
    h("td", { "data-label": "状态" },
      h("span", { class: account.is_active ? "badge ok" : "badge bad" }, account.is_active ? "启用" : "已停用")),
    h("td", { "data-label": "创建时间" }, fmtTime(account.created_at)),
    h("td", { "data-label": "操作" }, toggle),
  );
}

async function load(reset) {
  if (reset) { after = null; body.replaceChildren(); }
  try {
    const page = await api("GET", `/api/v1/accounts?${query()}`);
    body.append(...page.items.map(row));
    after = page.next_after;
    more.hidden = !after;
    empty.hidden = body.children.length > 0;
  } catch (err) {
    showError(err);
  }
}

async function setActive(account, active) {
  try {
    const updated = await api("PATCH", `/api/v1/accounts/${encodeURIComponent(account.id)}`, { is_active: active });
    const old = body.querySelector(`tr[data-id="${CSS.escape(account.id)}"]`);
    if (old) old.replaceWith(row(updated));
    toast(active ? `已启用 ${updated.username}` : `已停用 ${updated.username}`);
  } catch (err) {
    showError(err);
  }
}

document.getElementById("create").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const data = new FormData(form);
  const payload = {
    username: String(data.get("username") || "").trim(),
    role: String(data.get("role") || ""),
    node: String(data.get("node") || "").trim(),
    password: String(data.get("password") || ""),
  };
  try {
    const made = await api("POST", "/api/v1/accounts", payload);
    form.reset();
    toast(`已创建账号 ${made.username}`);
    await load(true);
  } catch (err) {
    showError(err);
  }
});

filters.addEventListener("submit", (event) => { event.preventDefault(); load(true); });
more.addEventListener("click", () => load(false));
load(true);
