// QR signing keys: list, rotate (confirmed on the page), retire (the kid typed again), through
// /api/v1/admin/qr/keys.
import { api, h, fmtTime, toast, showError, messageFor } from "./console.js";

const STATUS = { active: ["当前签发", "badge ok"], verifying: ["仅验证", "badge warn"], retired: ["已退役", "badge bad"] };
const body = document.querySelector("#keys tbody");
const activeKid = document.getElementById("active-kid");
const rotateBox = document.getElementById("rotate-box");
const rotateConfirm = document.getElementById("rotate-confirm");
const retireBox = document.getElementById("retire-confirm");
const retireKid = document.getElementById("retire-kid");
const retireForce = document.getElementById("retire-force");
let retiring = null;

function row(key) {
  const [label, badge] = STATUS[key.status] || [key.status, "badge"];
  const action = key.status === "verifying"
    ? h("button", { type: "button", class: "danger", onclick: () => askRetire(key) }, "退役")
    : "—";
  return h("tr", { dataset: { kid: key.kid } },
    h("td", { "data-label": "密钥编号", class: "kid" }, key.kid),
    h("td", { "data-label": "状态" }, h("span", { class: badge }, label)),
    h("td", { "data-label": "有效码数" }, String(key.active_codes)),
    h("td", { "data-label": "创建时间" }, fmtTime(key.created_at)),
    h("td", { "data-label": "退役时间" }, key.retired_at ? fmtTime(key.retired_at) : "—"),
    h("td", { "data-label": "操作" }, action),
  );
}

async function load() {
  try {
    const ring = await api("GET", "/api/v1/admin/qr/keys");
    activeKid.textContent = ring.active_kid;
    body.replaceChildren(...ring.items.map(row));
  } catch (err) {
    showError(err);
  }
}

function askRetire(key) {
  retiring = key;
  document.getElementById("retire-text").textContent =
    `退役后，密钥 ${key.kid} 签发的二维码将一律被拒绝，且无法恢复。目前仍有 ${key.active_codes} 个有效码由它签发。`;
  retireKid.value = "";
  retireForce.checked = false;
  retireBox.hidden = false;
  retireKid.focus();
}

document.getElementById("retire-no").addEventListener("click", () => { retireBox.hidden = true; retiring = null; });
document.getElementById("retire-yes").addEventListener("click", async () => {
  if (!retiring) return;
  try {
    const done = await api("POST", `/api/v1/admin/qr/keys/${encodeURIComponent(retiring.kid)}/retire`, {
      confirm_kid: retireKid.value.trim(),
      force: retireForce.checked,
    });
    retireBox.hidden = true;
    retiring = null;
    toast(done.refused_codes ? `密钥已退役，${done.refused_codes} 个有效码将被拒绝。` : "密钥已退役。");
    await load();
  } catch (err) {
    if (err.code === "codes_remain") toast(`${messageFor(err)}（${err.details.remaining} 个）`, { bad: true });
    else showError(err);
  }
});

document.getElementById("rotate").addEventListener("click", () => { rotateBox.hidden = true; rotateConfirm.hidden = false; });
document.getElementById("rotate-no").addEventListener("click", () => { rotateBox.hidden = false; rotateConfirm.hidden = true; });
document.getElementById("rotate-yes").addEventListener("click", async () => {
  try {
    const done = await api("POST", "/api/v1/admin/qr/keys/rotate", { confirm: true });
    toast(`已轮换：新密钥 ${done.active_kid} 开始签发。`);
    await load();
  } catch (err) {
    showError(err);
  } finally {
    rotateBox.hidden = false;
    rotateConfirm.hidden = true;
  }
});

load();
