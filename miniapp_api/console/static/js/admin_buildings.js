// Building import: upload a CSV or XLSX file to /api/v1/buildings/import and show its report.
import { api, h, toast, showError, messageFor } from "./console.js";

const TYPES = { csv: "text/csv", xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" };
const report = document.getElementById("report");
const table = document.getElementById("rejected");
const rows = table.querySelector("tbody");
const button = document.querySelector("#upload button");

function problemRow(p) {
  return h("tr", {},
    h("td", { "data-label": "行号" }, String(p.line)),
    h("td", { "data-label": "列" }, p.column || "—"),
    h("td", { "data-label": "原因" }, p.reason),
  );
}

function show(result) {
  report.hidden = false;
  document.getElementById("r-rows").textContent = String(result.rows);
  document.getElementById("r-imported").textContent = String(result.imported);
  document.getElementById("r-split").textContent = `${result.created} / ${result.updated} / ${result.unchanged}`;
  document.getElementById("r-rejected").textContent = String(result.rejected_lines);
  document.getElementById("r-ignored").textContent = result.ignored_columns.join("、") || "无";
  rows.replaceChildren(...result.rejected.map(problemRow));
  table.hidden = result.rejected.length === 0;
}

document.getElementById("upload").addEventListener("submit", async (event) => {
  event.preventDefault();
  const file = new FormData(event.currentTarget).get("file");
  if (!(file instanceof File) || !file.name) return;
  const ext = file.name.toLowerCase().split(".").pop();
  if (!TYPES[ext]) { toast("请选择 .csv 或 .xlsx 文件。", { bad: true }); return; }
  button.disabled = true;
  try {
    const result = await api("POST", "/api/v1/buildings/import", new Blob([file], { type: TYPES[ext] }));
    show(result);
    toast(`已导入 ${result.imported} 行，${result.rejected_lines} 行未导入。`);
  } catch (err) {
    if (err.code === "import_file_invalid") {
      report.hidden = true;
      toast(`${messageFor(err)}${(err.details.problems || []).map((p) => ` ${p.column}: ${p.reason}`).join("；")}`, { bad: true });
    } else {
      showError(err);
    }
  } finally {
    button.disabled = false;
  }
});
