// The models page: every model's state, versions, provider, heads and metrics (GET /v1/models).
import { get } from "./api.js";
import { $, h, showError } from "./dom.js";

let cached = null;

/** The models of GET /v1/models (fetched once; `fresh` fetches again). */
export function loadModels(fresh = false) {
  if (fresh || !cached) {
    cached = get("v1/models").then((body) => body.models);
    cached.catch(() => { cached = null; });
  }
  return cached;
}

export async function showModels() {
  const list = $("models-list");
  try {
    const models = await loadModels(true);
    showError($("models-error"), null);
    list.replaceChildren(...models.map(card));
  } catch (err) {
    showError($("models-error"), err);
  }
}

function card(model) {
  const providers = (model.providers || []).map((p) => p.replace("ExecutionProvider", "")).join(", ");
  return h("article", { class: "card", "data-model": model.name },
    h("header", {},
      h("h3", { text: model.name }),
      h("span", { class: `badge ${model.state}`, text: model.state }),
      h("span", { class: "hint", text: `version ${model.version ?? "–"} of ${(model.versions || []).join(", ") || "–"}` }),
      h("span", { class: "hint", text: `provider ${providers || "–"}` }),
      model.kind ? h("span", { class: "badge", text: model.kind }) : null),
    model.description ? h("p", { class: "hint", text: model.description }) : null,
    model.reason ? h("p", { class: "error", text: model.reason }) : null,
    h("p", { class: "hint", text: `inputs: ${(model.modalities || []).join(" + ") || "–"}` }),
    headsTable(model.heads || []),
    metricsTable(model.metrics || {}),
    model.batching ? h("p", { class: "hint", text:
      `batching: up to ${model.batching.max_batch_size} per run, ${model.batching.items} items in ${model.batching.batches} batches so far` }) : null);
}

function headsTable(heads) {
  if (!heads.length) return null;
  const rows = heads.map((head) => h("tr", {},
    h("td", { text: head.task && head.task !== head.name ? `${head.name} (${head.task})` : head.name }),
    h("td", { text: head.type }), h("td", { text: describeHead(head) })));
  return h("div", { class: "scroll" }, h("table", {},
    h("thead", {}, h("tr", {}, ["head", "type", "output"].map((t) => h("th", { text: t })))),
    h("tbody", {}, rows)));
}

function describeHead(head) {
  if (head.labels) {
    const first = head.labels.slice(0, 4).join(", ");
    return `${head.labels.length} labels: ${first}${head.labels.length > 4 ? ", …" : ""}`;
  }
  if (head.space) return `space ${head.space}`;
  if (head.range) return `range ${head.range[0]} … ${head.range[1]}`;
  return "";
}

/** Metrics as (dotted key, value) rows; nested objects flattened, long lists summarised. */
function metricsTable(metrics) {
  const rows = [];
  const walk = (prefix, value) => {
    if (value && typeof value === "object" && !Array.isArray(value)) {
      for (const [key, inner] of Object.entries(value)) walk(prefix ? `${prefix}.${key}` : key, inner);
    } else {
      rows.push([prefix, Array.isArray(value) ? `[${value.length} values]` : value]);
    }
  };
  walk("", metrics);
  if (!rows.length) return null;
  const shown = rows.slice(0, 60).map(([key, value]) => h("tr", {},
    h("td", {}, breakable(key)),
    typeof value === "number" ? h("td", { class: "num", text: formatNumber(value) })
      : h("td", { text: String(value) })));
  return h("details", { open: rows.length <= 12 },
    h("summary", { text: `metrics (${rows.length})` }),
    h("div", { class: "scroll" }, h("table", { class: "metrics" }, h("tbody", {}, shown))));
}

/** `a.b_c` with line-break opportunities after each "." and "_" (long dotted metric names). */
const breakable = (key) => key.split(/(?<=[._])/).flatMap((part, i) => (i ? [h("wbr"), part] : [part]));

const formatNumber = (x) => (Number.isInteger(x) ? String(x) : x.toPrecision(4));
