// Shared helpers of the console pages: API calls with the session's CSRF token, safe DOM building
// (text only, never HTML strings), Beijing time, Chinese messages, a toast.

export const csrfToken = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

// Chinese for the API's error codes a member of staff may meet; anything else falls back to a
// general sentence with the code, so nothing English or internal reaches the page.
const MESSAGES = {
  unauthorized: "登录已过期，请重新登录。",
  forbidden: "您的账号无权执行此操作。",
  csrf_failed: "页面已过期，请刷新后重试。",
  not_found: "未找到，或您无权查看。",
  validation_failed: "填写的内容有误，请检查后重试。",
  rate_limited: "操作过于频繁，请稍后再试。",
  conflict: "操作与当前状态冲突，请刷新后重试。",
  invalid_transition: "当前状态不允许此操作，请刷新后重试。",
  internal_error: "系统出错了，请稍后再试。",
  // Reports and the grid feed (report.js, feed.js).
  report_not_found: "未找到该诉求，或您无权查看。",
  transition_not_allowed: "诉求的当前状态不允许此操作，请刷新后重试。",
  action_not_allowed: "您的角色不能执行此操作。",
  own_report: "这是您本人提交的诉求，须由他人办理。",
  follower_cannot_act: "关注诉求只能查看，不能办理。",
  note_required: "请填写原因。",
  unknown_department: "没有这个部门代码，请检查。",
  department_required: "此类别没有派单规则，请填写部门代码。",
  merge_target_required: "请填写要合并到的主诉求编号。",
  unknown_report: "没有找到该主诉求，或它不在您的辖区。",
  merge_target_closed: "主诉求已办结或关闭，不能合并到它。",
  satisfaction_required: "请选择满意度（1-5）。",
  unknown_category: "没有这个类别。",
  report_closed: "诉求已关闭，类别不能再修改。",
  group_not_found: "未找到这组相似诉求，或您无权查看。",
  too_many_streams: "您打开的实时页面过多，请关闭其他页面后刷新。",
  network: "网络连接失败，请检查网络后重试。",
  bad_range: "日期范围有误：截止日期不能早于起始日期，且相隔不超过 400 天。",
  node_out_of_scope: "所选节点不在您的辖区内。",
  unknown_node: "没有这个节点。",
  no_scope: "您的账号没有所属辖区，无法查看台账。",
  // Administration (accounts, QR keys, sheets, notifications, imports).
  username_taken: "该用户名已被使用。",
  weak_password: "密码强度不足，请使用更长、更复杂的密码。",
  node_not_found: "没有这个节点编码。",
  not_a_staff_role: "不能创建此角色的账号。",
  outside_scope: "只能管理您所辖范围内的账号或数据。",
  cannot_disable_self: "不能停用自己的账号。",
  account_not_found: "账号不存在，或不在您的管辖范围内。",
  district_only: "仅区级管理员可以管理二维码签名密钥。",
  active_key: "这是当前签发密钥，请先轮换，再退役。",
  codes_remain: "仍有有效二维码由该密钥签发：请先重新签发，或勾选“仍要退役”。",
  confirmation_mismatch: "输入的密钥编号与要退役的密钥不一致。",
  key_not_found: "没有这个密钥。",
  notification_not_found: "通知不存在，或不在您的管辖范围内。",
  notification_not_retryable: "此通知当前状态不能重试。",
  unknown_kind: "没有这种二维码类型。",
  nothing_to_print: "没有可打印的有效二维码。",
  sheet_not_found: "打印任务不存在，或不在您的管辖范围内。",
  sheet_not_ready: "打印尚未完成。",
  sheet_jobs_busy: "已有其他打印任务在进行，请稍后再试。",
  sticker_font_missing: "服务器缺少中文字体，无法打印贴纸，请告知系统管理员。",
  import_file_invalid: "文件无法导入：请检查文件格式与表头。",
  payload_too_large: "文件过大。",
  // Alarms, silences and the police lookup.
  device_not_found: "未找到该设备，或它不在您的辖区。",
  alarm_not_found: "未找到该报警，或它不在您的辖区。",
  already_acknowledged: "该报警已被确认。",
  already_cleared: "该报警已被解除。",
  reason_required: "必须填写事由（文字）和案件编号（须含数字）。",
  personal_number: "内容中不能包含手机号或身份证号。",
  silence_end: "静默截止时间须在现在之后、7 天之内。",
  feed_stream_unavailable: "实时推送暂不可用，请稍后刷新。",
};

export function messageFor(error) {
  if (!error) return MESSAGES.internal_error;
  return MESSAGES[error.code] || error.chinese || `操作失败（${error.code || "未知错误"}）。`;
}

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }
}

// fetch() with the session cookie and CSRF token; JSON in and out. A 401 sends the browser to sign in.
export async function api(method, url, body, { raw = false } = {}) {
  const headers = { "X-CSRF-Token": csrfToken(), Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin" };
  if (body instanceof FormData || body instanceof Blob) {
    init.body = body;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (err) {
    throw new ApiError(0, "network", String(err));
  }
  if (response.status === 401) {
    const next = encodeURIComponent(location.pathname + location.search);
    location.assign(`/console/login?next=${next}&expired=1`);
    throw new ApiError(401, "unauthorized", "signed out");
  }
  if (raw) return response;
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!response.ok) {
    const e = (data && data.error) || {};
    throw new ApiError(response.status, e.code || `http_${response.status}`, e.message || "", e.details);
  }
  return data;
}

// h("a", {href: "/x", class: "badge"}, "text", child...): children are text or nodes, never HTML.
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const TIME = new Intl.DateTimeFormat("zh-CN", {
  timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false,
});

export function fmtTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : TIME.format(date);
}

// "还剩 3 小时 5 分" / "已超时 20 分": an SLA countdown from now.
export function countdown(iso, now = Date.now()) {
  if (!iso) return { text: "", overdue: false };
  let minutes = Math.round((new Date(iso).getTime() - now) / 60000);
  const overdue = minutes < 0;
  minutes = Math.abs(minutes);
  const days = Math.floor(minutes / 1440), hours = Math.floor((minutes % 1440) / 60), mins = minutes % 60;
  const parts = [days ? `${days} 天` : "", hours ? `${hours} 小时` : "", `${mins} 分`].filter(Boolean).join(" ");
  return { text: overdue ? `已超时 ${parts}` : `还剩 ${parts}`, overdue };
}

let toastTimer = null;
export function toast(text, { bad = false } = {}) {
  const box = document.getElementById("toast");
  if (!box) return;
  box.textContent = text;
  box.className = bad ? "toast bad" : "toast";
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.hidden = true; }, 5000);
}

export function showError(error) {
  toast(messageFor(error), { bad: true });
}
