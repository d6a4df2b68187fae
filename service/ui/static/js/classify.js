// Classify: pick a model and a photo; every head's top labels as bars (POST /v1/classify/upload).
import { post } from "./api.js";
import { $, bar, busy, dropZone, h, percent, preview, showError } from "./dom.js";
import { loadModels } from "./models.js";

let lastFile = null;

export async function initClassify() {
  dropZone($("classify-drop"), $("classify-file"), (files) => classify(files[0]));
  $("classify-model").addEventListener("change", () => { syncTextField(); if (lastFile) classify(lastFile); });
  $("classify-topk").addEventListener("change", () => { if (lastFile) classify(lastFile); });
  try {
    const models = await loadModels();
    const usable = models.filter((m) => (m.modalities || []).includes("image")
      && (m.heads || []).some((head) => head.labels || head.type === "regression"));
    $("classify-model").replaceChildren(...usable.map((m) => h("option", {
      value: m.name, "data-modalities": (m.modalities || []).join(","), text: m.name,
      selected: m.name === "vision" })));
    syncTextField();
  } catch (err) {
    showError($("classify-error"), err);
  }
}

function syncTextField() {
  const option = $("classify-model").selectedOptions[0];
  $("classify-text").hidden = !(option && option.dataset.modalities.includes("text"));
}

async function classify(file) {
  lastFile = file;
  preview($("classify-preview"), file);
  const form = new FormData();
  form.append("files", file, file.name);
  form.append("model", $("classify-model").value || "vision");
  form.append("top_k", $("classify-topk").value);
  if (!$("classify-text").hidden && $("classify-text").value) form.append("texts", $("classify-text").value);
  $("classify-results").replaceChildren(h("p", { class: "status", text: "Classifying…" }));
  const body = await busy(null, $("classify-error"), () => post("v1/classify/upload", form));
  if (!body) { $("classify-results").replaceChildren(); return; }
  const heads = body.results[0].heads;
  $("classify-results").replaceChildren(...Object.entries(heads).map(([name, head]) => headCard(name, head)));
}

function headCard(name, head) {
  const title = head.task && head.task !== name ? `${name} (${head.task})` : name;
  const body = head.labels
    ? h("ol", { class: "bars" }, head.labels.map((l) => bar(l.label, l.score, percent(l.score))))
    : h("p", { class: "value", text: `${head.type}: ${head.value?.toFixed(3)}` });
  return h("div", { class: "head", "data-head": name }, h("h3", { text: title }), body);
}
