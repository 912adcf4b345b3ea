// Sticker sheets: start a print job, follow its progress, download the PDF, through
// /api/v1/admin/qr/sheets. The job's id stays in the address (?job=), so a reload finds it again.
import { api, toast, showError } from "./console.js";

const STATE = {
  running: ["打印中", "badge info"], done: ["已完成", "badge ok"],
  failed: ["失败", "badge bad"], interrupted: ["已中断", "badge bad"],
};
const box = document.getElementById("job");
const stateBadge = document.getElementById("job-state");
const bar = document.getElementById("job-progress");
const text = document.getElementById("job-text");
const link = document.getElementById("job-pdf");
let timer = null;

function show(job) {
  box.hidden = false;
  const [label, badge] = STATE[job.state] || [job.state, "badge"];
  stateBadge.textContent = label;
  stateBadge.className = badge;
  bar.value = job.percent;
  bar.textContent = `${job.percent}%`;
  let line = `${job.node} · 已完成 ${job.done} / ${job.total} 张（${job.pages} 页），${job.percent}%`;
  if (job.state === "failed") line += "。打印失败，请重试；如仍失败，请告知系统管理员。";
  if (job.state === "interrupted") line += "。任务因服务重启而中断，请重新开始。";
  text.textContent = line;
  link.hidden = !job.pdf;
  if (job.pdf) link.href = job.pdf;
}

async function follow(id) {
  clearTimeout(timer);
  try {
    const job = await api("GET", `/api/v1/admin/qr/sheets/${encodeURIComponent(id)}`);
    show(job);
    if (job.state === "running") timer = setTimeout(() => follow(id), 1000);
  } catch (err) {
    showError(err);
  }
}

document.getElementById("start").addEventListener("submit", async (event) => {
  event.preventDefault();
  const data = new FormData(event.currentTarget);
  try {
    const job = await api("POST", "/api/v1/admin/qr/sheets", {
      kind: String(data.get("kind") || ""),
      node: String(data.get("node") || "").trim(),
    });
    history.replaceState(null, "", `?job=${encodeURIComponent(job.id)}`);
    toast(`已开始打印 ${job.total} 张贴纸。`);
    show(job);
    follow(job.id);
  } catch (err) {
    showError(err);
  }
});

const current = new URLSearchParams(location.search).get("job");
if (current) follow(current);
