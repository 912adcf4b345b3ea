// The scan page: a code read by the camera or from a photo (jsQR, in the browser), answered online by
// POST /api/v1/scan (what this account's role may see), or offline by the signed verifier bundle.
import { api, ApiError, h, fmtTime, messageFor } from "./console.js";
import { OfflineVerifier } from "./verify.js";

const root = document.getElementById("scan");
const KIND_TITLES = JSON.parse(root.dataset.kinds || "{}");
const video = document.getElementById("camera");
const toggle = document.getElementById("camera-toggle");
const photo = document.getElementById("photo");
const cameraState = document.getElementById("camera-state");
const offlineState = document.getElementById("offline-state");
const result = document.getElementById("result");
const verifier = new OfflineVerifier();

const REPEAT_MS = 5000; // the same code read again by the camera within this is not sent again
const REFRESH_MS = 60_000;

const OFFLINE_VERDICTS = {
  ok: "真码：签名有效，未在注销名单中。",
  revoked: "此码已注销，不再有效。",
  superseded: "此码已被新码替换，不再有效。",
  malformed: "这不是有效的光明e证二维码。",
  foreign_url: "此码的网址不是光明e证的网址，请勿信任。",
};
const FORGED = "此码无法验证，可能是伪造的。请勿信任。";

const LABELS = {
  brand: "品牌", colour: "颜色", model: "型号", frame_no: "车架号", motor_no: "电机号", plate: "车牌",
  status: "状态", owner: "车主", name: "姓名", phone: "电话", alarm: "被盗报警", lost_at: "丢失时间",
  location: "丢失地点", sighting_recorded: "已记录发现", stolen: "报失被盗", registered: "已登记",
  title: "名称", type_name: "设备类型", address: "地址", members: "成员", duty: "职责", in_household: "本户设备",
  id: "编号", landlord: "房东", landlord_access: "房东信息", services: "服务", grid: "网格", node: "所属网格",
  rooms: "房间数", online: "在线", last_seen_at: "最后在线", binding_request: "绑定申请", state: "状态",
};
const HIDDEN = new Set(["kind", "alert", "message", "actions", "href", "requires", "type", "lookup"]);
const STATUS = { active: "正常", stolen: "被盗", deregistered: "已注销", revoked: "已注销", pending: "待处理" };

function groupId(id) {
  const text = String(id || "");
  return text.length === 13 ? `${text.slice(0, 4)}-${text.slice(4, 8)}-${text.slice(8)}` : text;
}

function valueNode(key, value) {
  if (value === null || value === undefined || value === "") return "—";
  if (typeof value === "boolean") return value ? "是" : "否";
  if (Array.isArray(value)) {
    if (!value.length) return "—";
    return h("ul", { class: "plain" }, value.map((item) => h("li", {}, valueNode(key, item))));
  }
  if (typeof value === "object") return facts(value, "facts subfacts");
  if (key === "status" || key === "state") return STATUS[value] || String(value);
  if (/_at$/.test(key)) return fmtTime(value);
  return String(value);
}

function facts(object, cls = "facts") {
  const list = h("dl", { class: cls });
  for (const [key, value] of Object.entries(object)) {
    if (HIDDEN.has(key)) continue;
    list.append(h("dt", {}, LABELS[key] || key), h("dd", {}, valueNode(key, value)));
  }
  return list;
}

function show(...nodes) {
  result.replaceChildren(h("h2", {}, "核验结果"), ...nodes);
}

function showOnline(answer) {
  const bad = !!answer.alert;
  const view = answer.view || {};
  const nodes = [
    h("p", { class: `verdict ${bad ? "bad" : "ok"}`, role: bad ? "alert" : null }, `${bad ? "⚠" : "✓"} ${answer.message}`),
    h("dl", { class: "facts" },
      h("dt", {}, "类型"), h("dd", {}, KIND_TITLES[answer.kind] || answer.kind),
      h("dt", {}, "码编号"), h("dd", {}, groupId(answer.public_id)),
      h("dt", {}, "码状态"), h("dd", {}, STATUS[answer.status] || answer.status)),
  ];
  if (Object.keys(view).some((key) => !HIDDEN.has(key))) nodes.push(h("h2", {}, "详细信息"), facts(view));
  if (view.lookup) nodes.push(h("p", { class: "hint" }, "如需查询车主身份，请在“车主查询”中填写查询事由和案件编号。"));
  show(...nodes);
}

function showRefused(error) {
  const details = error.details || {};
  const nodes = [h("p", { class: "verdict bad", role: "alert" }, `✗ ${details.notice || messageFor(error)}`)];
  if (details.kind) {
    nodes.push(h("dl", { class: "facts" },
      h("dt", {}, "类型"), h("dd", {}, KIND_TITLES[details.kind] || details.kind),
      h("dt", {}, "码编号"), h("dd", {}, groupId(details.public_id))));
  }
  show(...nodes);
}

async function showOffline(text) {
  if (!verifier.ready) {
    show(h("p", { class: "verdict warn", role: "alert" }, "网络不可用，且离线核验尚未就绪：请联网后打开本页一次。"));
    return;
  }
  const answer = await verifier.check(text);
  const ok = answer.code === "ok";
  const nodes = [
    h("p", { class: `verdict ${ok ? "ok" : "bad"}`, role: ok ? null : "alert", dataset: { code: answer.code } },
      `${ok ? "✓" : "✗"} ${OFFLINE_VERDICTS[answer.code] || FORGED}`),
    h("p", { class: "offline-note" }, "离线核验结果：暂时无法连接服务器，仅核验了签名和注销名单，不显示车主等信息。"),
  ];
  if (answer.claims && answer.code !== "bad_signature" && answer.code !== "unknown_key") {
    nodes.push(h("dl", { class: "facts" },
      h("dt", {}, "类型"), h("dd", {}, KIND_TITLES[answer.kind] || answer.kind || "未知"),
      h("dt", {}, "码编号"), h("dd", {}, groupId(answer.claims.id)),
      h("dt", {}, "序号"), h("dd", {}, String(answer.claims.serial)),
      h("dt", {}, "签发时间"), h("dd", {}, fmtTime(new Date(answer.claims.iat * 1000).toISOString()))));
  }
  if (verifier.stale) nodes.push(h("p", { class: "notice" }, "离线数据已超过 24 小时未更新，结果仅供参考。"));
  show(...nodes);
}

let busy = false;
async function handle(text) {
  if (busy) return;
  busy = true;
  try {
    if (!navigator.onLine) {
      await showOffline(text);
      return;
    }
    try {
      showOnline(await api("POST", "/api/v1/scan", { payload: text }));
    } catch (err) {
      // No network, or a server that cannot answer: the signed bundle still can.
      if (err instanceof ApiError && (err.code === "network" || err.status >= 500)) await showOffline(text);
      else if (err instanceof ApiError && err.details && err.details.notice) showRefused(err);
      else show(h("p", { class: "verdict warn", role: "alert" }, messageFor(err)));
    }
  } finally {
    busy = false;
  }
}

// Decoding ------------------------------------------------------------------------------------------

const canvas = document.createElement("canvas");
const drawing = canvas.getContext("2d", { willReadFrequently: true });

function decode(source, width, height, limit, inversion) {
  const scale = Math.min(1, limit / Math.max(width, height));
  canvas.width = Math.max(1, Math.round(width * scale));
  canvas.height = Math.max(1, Math.round(height * scale));
  drawing.drawImage(source, 0, 0, canvas.width, canvas.height);
  const pixels = drawing.getImageData(0, 0, canvas.width, canvas.height);
  const found = window.jsQR(pixels.data, pixels.width, pixels.height, { inversionAttempts: inversion });
  return found && found.data ? found.data : null;
}

photo.addEventListener("change", async () => {
  const file = photo.files && photo.files[0];
  photo.value = "";
  if (!file) return;
  let bitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    show(h("p", { class: "verdict warn", role: "alert" }, "无法读取这张图片，请换一张照片。"));
    return;
  }
  const text = decode(bitmap, bitmap.width, bitmap.height, 1600, "attemptBoth");
  bitmap.close();
  if (!text) {
    show(h("p", { class: "verdict warn", role: "alert" }, "图片中未找到二维码，请对准二维码重新拍照。"));
    return;
  }
  await handle(text);
});

let stream = null;
let last = { text: "", at: 0 };

function cameraMessage(err) {
  const name = err && err.name;
  if (name === "NotAllowedError" || name === "SecurityError") return "未获得摄像头权限：请在浏览器中允许使用摄像头，或上传照片。";
  if (name === "NotFoundError" || name === "OverconstrainedError") return "未找到摄像头，请上传照片。";
  if (name === "NotReadableError") return "摄像头正被其他程序使用，请关闭后重试。";
  return "无法打开摄像头，请上传照片。";
}

async function startCamera() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    cameraState.textContent = "此浏览器不支持摄像头扫码，请上传照片。";
    return;
  }
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: { ideal: "environment" } }, audio: false });
  } catch (err) {
    cameraState.textContent = cameraMessage(err);
    return;
  }
  video.srcObject = stream;
  video.hidden = false;
  await video.play().catch(() => undefined);
  toggle.textContent = "关闭摄像头";
  cameraState.textContent = "正在扫描，请将二维码对准摄像头。";
  setTimeout(tick, 150);
}

function stopCamera() {
  for (const track of stream ? stream.getTracks() : []) track.stop();
  stream = null;
  video.srcObject = null;
  video.hidden = true;
  toggle.textContent = "打开摄像头";
  cameraState.textContent = "摄像头已关闭。";
}

async function tick() {
  if (!stream) return;
  if (video.readyState >= 2 && video.videoWidth) {
    const text = decode(video, video.videoWidth, video.videoHeight, 800, "dontInvert");
    if (text) {
      const now = Date.now();
      if (text === last.text && now - last.at < REPEAT_MS) {
        cameraState.textContent = "已识别此码：同一个码 5 秒内不重复提交。";
      } else {
        last = { text, at: now };
        cameraState.textContent = "已识别二维码。";
        await handle(text);
      }
    }
  }
  setTimeout(tick, 200);
}

toggle.addEventListener("click", () => (stream ? stopCamera() : startCamera()));

// Offline readiness ---------------------------------------------------------------------------------

function readiness() {
  if (!verifier.ready) {
    offlineState.textContent = navigator.onLine ? "离线核验准备中……" : "离线核验未就绪：请联网后打开本页一次。";
    offlineState.className = "hint notice";
    return;
  }
  const count = Object.keys(verifier.state.revocations).length;
  const when = fmtTime(new Date(verifier.state.synced_at).toISOString());
  const stale = verifier.stale ? "（已超过 24 小时，请联网更新）" : "";
  offlineState.textContent = `离线核验已就绪：数据更新于 ${when}，注销及换码记录 ${count} 条${stale}。`;
  offlineState.className = verifier.stale ? "hint notice" : "hint";
}

async function refresh() {
  if (!navigator.onLine) return;
  try {
    await verifier.refresh();
  } catch (err) {
    console.warn("verifier refresh failed", err);
  }
  readiness();
}

async function prepareOffline() {
  await verifier.load();
  readiness();
  if ("serviceWorker" in navigator) {
    try {
      await navigator.serviceWorker.register("/console/sw.js", { scope: "/console/" });
      await navigator.serviceWorker.ready;
    } catch (err) {
      console.warn("service worker not installed", err);
    }
  }
  await refresh();
  setInterval(refresh, REFRESH_MS);
  window.addEventListener("online", refresh);
  window.addEventListener("offline", readiness);
}

prepareOffline();
