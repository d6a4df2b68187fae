// Rank: candidate labels against a photo, best first (POST /v1/rank/upload).
import { post } from "./api.js";
import { $, bar, busy, dropZone, percent, preview, showError } from "./dom.js";

let photo = null;

export function initRank() {
  dropZone($("rank-drop"), $("rank-file"), (files) => {
    photo = files[0];
    preview($("rank-preview"), photo);
    rank();
  });
  $("rank-go").addEventListener("click", rank);
}

async function rank() {
  const labels = $("rank-labels").value.split("\n").map((s) => s.trim()).filter(Boolean);
  if (!photo) { showError($("rank-error"), new Error("Choose a photo first.")); return; }
  if (!labels.length) { showError($("rank-error"), new Error("Type at least one label.")); return; }
  const form = new FormData();
  form.append("query_image", photo, photo.name);
  for (const label of labels) form.append("candidate_texts", label);
  const body = await busy($("rank-go"), $("rank-error"), () => post("v1/rank/upload", form));
  if (!body) return;
  $("rank-results").replaceChildren(...body.results.map((r) =>
    bar(labels[r.index], r.probability, percent(r.probability), `cosine ${r.cosine.toFixed(3)}`)));
}
