// The alarm board: GET /api/v1/device-alarms (open ones of this account's area), kept live by the
// alarm stream (Server-Sent Events), with acknowledge, clear and silence through the alarm API.
import { api, h, fmtTime, toast, showError } from "./console.js";

const labels = JSON.parse(document.getElementById("board-status").dataset.labels || "{}");
const live = document.getElementById("live");
const counts = document.getElementById("counts");
const empty = document.getElementById("empty");
const STATE = { active_unack: "未确认", active_ack: "已确认", cleared_unack: "已恢复，未确认", cleared_ack: "已解除" };
const SILENCE_HOURS = [["1", "1 小时"], ["4", "4 小时"], ["24", "1 天"], ["168", "7 天"]];

const alarmName = (a) => (labels.alarm_type || {})[a.type] || a.type;
const deviceName = (a) => (labels.device_type || {})[a.device_type] || a.device_type;

async function act(button, work, done) {
  button.disabled = true;
  try {
    await work();
    toast(done);
    await refresh();
  } catch (err) {
    showError(err);
  } finally {
    button.disabled = false;
  }
}

function noteForm({ label, button, required, maxlength, submit, extra = [] }) {
  const input = h("textarea", { name: "note", maxlength, required: required || null, rows: 2 });
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const send = h("button", { type: "submit", class: "primary" }, button);
  const form = h("form", { class: "stack act", novalidate: true },
    h("label", {}, label, input), ...extra, error, h("div", {}, send));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const note = input.value.trim();
    if (required && !note) {
      error.textContent = `请填写${label}。`;
      error.hidden = false;
      return;
    }
    error.hidden = true;
    submit(send, note, form);
  });
  return form;
}

function item(alarm) {
  const acked = alarm.state === "active_ack";
  const ack = h("button", { type: "button", class: "ack" }, "确认");
  ack.hidden = acked;
  ack.addEventListener("click", () =>
    act(ack, () => api("POST", `/api/v1/device-alarms/${encodeURIComponent(alarm.id)}/ack`, { note: "" }), "报警已确认。"));

  const clear = noteForm({
    label: "处置情况", button: "解除报警", required: true, maxlength: 500,
    submit: (button, note) => act(button,
      () => api("POST", `/api/v1/device-alarms/${encodeURIComponent(alarm.id)}/clear`, { note }), "报警已解除。"),
  });
  const hours = h("select", { name: "hours" }, SILENCE_HOURS.map(([v, t]) => h("option", { value: v }, t)));
  const silence = noteForm({
    label: "静默原因", button: "静默此设备", required: true, maxlength: 500,
    extra: [h("label", {}, "静默时长", hours)],
    submit: (button, reason) => {
      const ends = new Date(Date.now() + Number(hours.value) * 3600_000).toISOString();
      return act(button, () => api("POST", "/api/v1/device-silences", { device: alarm.device_id, reason, ends_at: ends }),
        "已静默：期间此设备的报警仍会记录，但不再发送通知。");
    },
  });

  return h("li", { class: `alarm card sev-${alarm.severity}`, dataset: { id: alarm.id } },
    h("div", { class: "head" },
      h("span", { class: `badge ${alarm.severity === "warning" ? "warn" : "bad"}` }, (labels.severity || {})[alarm.severity] || alarm.severity),
      h("strong", { class: "what" }, alarmName(alarm)),
      h("span", { class: `badge state ${acked ? "ok" : "warn"}` }, STATE[alarm.state] || alarm.state)),
    h("dl", { class: "facts" },
      h("dt", {}, "设备"), h("dd", {}, `${deviceName(alarm)} ${alarm.device} · ${alarm.place || "—"}`),
      h("dt", {}, "位置"), h("dd", {}, [alarm.building, alarm.node].filter(Boolean).join(" · ") || "—"),
      h("dt", {}, "读数"), h("dd", {}, alarm.value === null ? "—" : `${(labels.metric || {})[alarm.metric] || alarm.metric}：${alarm.value}`),
      h("dt", {}, "开始"), h("dd", {}, fmtTime(alarm.started_at)),
      h("dt", {}, "更新"), h("dd", {}, fmtTime(alarm.updated_at))),
    h("div", { class: "actions" },
      ack,
      h("a", { href: `/console/devices/${encodeURIComponent(alarm.device_id)}` }, "读数曲线"),
      h("details", {}, h("summary", {}, "解除"), clear),
      h("details", {}, h("summary", {}, "静默"), silence)));
}

async function loadAll() {
  const items = [];
  let cursor = null;
  for (let page = 0; page < 5; page += 1) {
    const query = new URLSearchParams({ state: "open", limit: "200" });
    if (cursor) query.set("cursor", cursor);
    const answer = await api("GET", `/api/v1/device-alarms?${query}`);
    items.push(...answer.items);
    cursor = answer.next_cursor;
    if (!cursor) break;
  }
  return items;
}

let loading = null;
let again = false;
async function refresh() {
  if (loading) { again = true; return loading; }
  loading = (async () => {
    try {
      const items = await loadAll();
      const open = document.querySelectorAll("#board details[open]");
      const keep = new Set([...open].map((d) => `${d.closest("li").dataset.id}:${d.querySelector("summary").textContent}`));
      for (const section of document.querySelectorAll("#board section.severity")) {
        const mine = items.filter((a) => a.severity === section.dataset.severity);
        section.querySelector("ul").replaceChildren(...mine.map(item));
        section.hidden = mine.length === 0;
      }
      for (const d of document.querySelectorAll("#board details")) {
        if (keep.has(`${d.closest("li").dataset.id}:${d.querySelector("summary").textContent}`)) d.open = true;
      }
      empty.hidden = items.length > 0;
      const unacked = items.filter((a) => a.state === "active_unack").length;
      counts.textContent = `未解除 ${items.length} 条，其中未确认 ${unacked} 条`;
    } catch (err) {
      showError(err);
    }
  })();
  await loading;
  loading = null;
  if (again) { again = false; await refresh(); }
}

function connect() {
  const stream = new EventSource("/api/v1/device-alarms/stream");
  stream.addEventListener("open", () => {
    live.textContent = "实时更新中";
    live.className = "badge ok";
    refresh();
  });
  stream.addEventListener("alarm", () => refresh());
  stream.addEventListener("error", () => {
    live.textContent = "实时推送已断开，正在重连…";
    live.className = "badge warn";
    if (stream.readyState === EventSource.CLOSED) setTimeout(connect, 10_000);
  });
}

refresh();
connect();
