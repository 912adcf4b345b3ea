// The police owner lookup: checks the form (a reason and a case number are required), then asks
// POST /api/v1/police/ebikes/lookup (the fields in the body), which checks everything again, limits
// and audits every lookup.
import { api, h, fmtTime, messageFor } from "./console.js";

const LIMITS = { plate: 16, frame_no: 40, qr: 2048, owner_id_number: 20 };
const BIKE_STATUS = { active: "正常", stolen: "被盗", deregistered: "已注销" };
const ALARM_STATUS = { open: "报警中", found: "已找回" };
const REFUSALS = {
  reason_required: "查询被拒绝：必须填写查询事由（文字说明）和案件编号（须含数字）。",
  one_search_key_required: "请只填写一种查询方式的内容。",
  rate_limited: "查询次数已达上限，已通知管理员。请稍后再试。",
  lookup_limit_unavailable: "查询暂不可用，请稍后再试。",
  validation_failed: "查询内容格式有误，请检查后重试。",
  invalid_value: "查询内容格式有误，请检查后重试。",
  forbidden: "您的账号无权查询车主信息。",
};

const form = document.getElementById("lookup");
const formError = document.getElementById("form-error");
const result = document.getElementById("result");

function refuse(text) {
  formError.textContent = text;
  formError.hidden = false;
}

function problems(values) {
  const found = [];
  if (!values.value) found.push("请填写查询内容。");
  else if (values.value.length > LIMITS[values.by]) found.push("查询内容过长。");
  if (!values.reason) found.push("必须填写查询事由。");
  if (!values.case_no) found.push("必须填写案件编号。");
  else if (!/[0-9]/.test(values.case_no)) found.push("案件编号须含数字。");
  return found;
}

function fact(term, value) {
  return [h("dt", {}, term), h("dd", {}, value === null || value === undefined || value === "" ? "—" : String(value))];
}

function bikeCard(item) {
  const bike = item.bike;
  const alarms = item.alarms || [];
  return h("div", { class: "card bike" },
    h("h3", {}, `${bike.brand} ${bike.model}（${bike.colour}）`, " ",
      h("span", { class: bike.status === "stolen" ? "badge bad" : "badge ok" }, BIKE_STATUS[bike.status] || bike.status)),
    h("dl", { class: "facts" },
      fact("车牌号", bike.plate), fact("车架号", bike.frame_no), fact("电机号", bike.motor_no),
      fact("登记地", bike.node), fact("登记时间", fmtTime(bike.registered_at))),
    alarms.length
      ? h("div", {}, h("h4", {}, "报警记录"),
          h("ul", {}, alarms.map((a) => h("li", {},
            `${fmtTime(a.created_at)} ${ALARM_STATUS[a.status] || a.status} · ${a.location}`,
            a.description ? ` · ${a.description}` : "", a.sightings ? ` · 线索 ${a.sightings} 条` : ""))))
      : h("p", { class: "hint" }, "无报警记录。"));
}

function show(answer) {
  const blocks = [h("p", { class: "hint", id: "audit-note" }, `本次查询已记入审计日志（编号 ${answer.audit_seq}）。`)];
  if (!answer.results.length) blocks.push(h("p", { class: "empty" }, "未查到登记车辆。"));
  for (const found of answer.results) {
    const owner = found.owner;
    blocks.push(h("section", { class: "card owner" },
      h("h2", {}, "车主"),
      h("dl", { class: "facts" },
        fact("姓名", owner.name), fact("身份证号", owner.id_number), fact("手机号", owner.phone),
        fact("住址", owner.address), fact("账号", owner.account)),
      h("h2", {}, `登记车辆（${found.bikes.length}）`),
      found.bikes.map(bikeCard)));
  }
  result.replaceChildren(...blocks);
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  formError.hidden = true;
  result.replaceChildren();
  const data = new FormData(form);
  const values = Object.fromEntries(["by", "value", "reason", "case_no"].map((k) => [k, String(data.get(k) || "").trim()]));
  const found = problems(values);
  if (found.length) {
    refuse(`无法查询：${found.join("")}`);
    return;
  }
  // In a body, never in the address: an ID number or plate must not reach access logs or history.
  const body = { [values.by]: values.value, reason: values.reason, case_no: values.case_no };
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    show(await api("POST", "/api/v1/police/ebikes/lookup", body));
  } catch (err) {
    refuse(REFUSALS[err.code] || messageFor(err));
  } finally {
    button.disabled = false;
  }
});
