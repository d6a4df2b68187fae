// Gallery: choose or create a collection, add photos, search by text or by photo.
//
// Thumbnails: each photo added here is stored with metadata {filename, thumbnail}, the thumbnail
// a JPEG data URI of at most 160 px (a few KB), so hits show a picture in any browser later, and
// for items indexed elsewhere too (`mapping-serve index --thumbnails`). Photos added in this
// session are also kept as object URLs by id, used when an item has no stored thumbnail.
import { del, get, post } from "./api.js";
import { $, busy, dropZone, h, showError } from "./dom.js";
import { thumbnail, toBase64 } from "./images.js";

const BATCH_ITEMS = 16;  // photos per request: well under the service's 64 items
const BATCH_BYTES = 6 * 1024 * 1024;  // and under its 16 MiB body limit once base64-encoded
const sessionUrls = new Map();  // item id -> object URL of a photo added in this session
const NAME_KEY = "mapping-serve.collection";

const current = () => $("gallery-collection").value;
const path = (suffix = "") => `v1/collections/${encodeURIComponent(current())}${suffix}`;

export function initGallery() {
  $("gallery-collection").addEventListener("change", () => {
    window.localStorage.setItem(NAME_KEY, current());
    $("gallery-results").replaceChildren();
    refreshInfo();
  });
  $("gallery-create").addEventListener("submit", (e) => { e.preventDefault(); createCollection(); });
  $("gallery-delete").addEventListener("click", deleteCollection);
  $("gallery-search-form").addEventListener("submit", (e) => { e.preventDefault(); searchText(); });
  const searchInput = $("gallery-search-file");
  dropZone(searchInput.parentElement, searchInput, (files) => searchImage(files[0]));
  dropZone($("gallery-add-drop"), $("gallery-add-files"), addPhotos);
}

/** Fill the collection selector (GET /v1/collections); keeps the last choice. */
export async function showGallery() {
  await busy(null, $("gallery-error"), async () => {
    const { collections } = await get("v1/collections");
    const wanted = current() || window.localStorage.getItem(NAME_KEY);
    $("gallery-collection").replaceChildren(...collections.map((c) =>
      h("option", { value: c.name, text: `${c.name} (${c.count})`, selected: c.name === wanted })));
    if (!collections.length) setStatus("No collection yet: create one below.");
    refreshInfo();
  });
}

async function refreshInfo() {
  const name = current();
  $("gallery-info").textContent = "";
  if (!name) return;
  const c = await get(path()).catch(() => null);
  if (c && name === current()) {
    $("gallery-info").textContent = `${c.count} items · space ${c.space}${c.description ? ` · ${c.description}` : ""}`;
    const option = $("gallery-collection").selectedOptions[0];
    if (option) option.textContent = `${c.name} (${c.count})`;
  }
}

async function createCollection() {
  const name = $("gallery-new-name").value.trim();
  const made = await busy(null, $("gallery-error"), () => post("v1/collections", { name, space: "semantic" }));
  if (!made) return;
  $("gallery-new-name").value = "";
  window.localStorage.setItem(NAME_KEY, made.name);
  $("gallery-collection").value = "";
  await showGallery();
  $("gallery-collection").value = made.name;
  setStatus(`Created ${made.name}. Add photos to it.`);
}

async function deleteCollection() {
  const name = current();
  if (!name || !window.confirm(`Delete the collection ${name} and all its items?`)) return;
  if (await busy($("gallery-delete"), $("gallery-error"), () => del(path()))) {
    setStatus(`Deleted ${name}.`);
    $("gallery-results").replaceChildren();
    await showGallery();
  }
}

async function addPhotos(fileList) {
  const files = Array.from(fileList);
  if (!current()) { showError($("gallery-error"), new Error("Choose or create a collection first.")); return; }
  let added = 0;
  await busy(null, $("gallery-error"), async () => {
    for (const batch of batches(files)) {
      setStatus(`Adding ${added + 1}–${added + batch.length} of ${files.length}…`);
      const items = await Promise.all(batch.map(async (file) => ({
        image: await toBase64(file),
        metadata: { filename: file.name, ...(await thumbMeta(file)) },
      })));
      const answer = await post(path("/items"), { items });
      answer.ids.forEach((id, i) => sessionUrls.set(id, URL.createObjectURL(batch[i])));
      added += batch.length;
      setStatus(`Added ${added} of ${files.length} photos; the collection holds ${answer.count}.`);
    }
  });
  refreshInfo();
}

async function thumbMeta(file) {
  const uri = await thumbnail(file);
  return uri ? { thumbnail: uri } : {};
}

function batches(files) {
  const out = [];
  let batch = [];
  let bytes = 0;
  for (const file of files) {
    if (batch.length && (batch.length >= BATCH_ITEMS || bytes + file.size > BATCH_BYTES)) {
      out.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(file);
    bytes += file.size;
  }
  if (batch.length) out.push(batch);
  return out;
}

async function searchText() {
  const text = $("gallery-query").value.trim();
  if (!text) return;
  await search({ type: "text", text }, `“${text}”`);
}

async function searchImage(file) {
  await search({ type: "image", image: await toBase64(file) }, file.name);
}

async function search(query, what) {
  if (!current()) { showError($("gallery-error"), new Error("Choose or create a collection first.")); return; }
  const body = await busy($("gallery-search"), $("gallery-error"),
    () => post(path("/search"), { query, top_k: 24, with_metadata: true }));
  if (!body) return;
  setStatus(`${body.results.length} results for ${what} in ${current()}`);
  $("gallery-results").replaceChildren(...body.results.map(hitCard));
}

function hitCard(hit) {
  const meta = hit.metadata || {};
  const src = (typeof meta.thumbnail === "string" && meta.thumbnail.startsWith("data:image/"))
    ? meta.thumbnail : sessionUrls.get(hit.id);
  const name = meta.filename || meta.path || meta.text || `${hit.id.slice(0, 12)}…`;
  const rest = Object.entries(meta).filter(([k]) => !["thumbnail", "filename"].includes(k));
  return h("figure", { class: "hit", "data-id": hit.id, "data-name": name },
    h("div", { class: "thumb" }, src ? h("img", { src, alt: name, loading: "lazy" }) : "no thumbnail"),
    h("figcaption", { class: "meta" },
      h("div", {}, h("span", { class: "score", text: hit.score.toFixed(3) }), " ", name),
      rest.length ? h("dl", {}, rest.map(([k, v]) => [h("dt", { text: `${k}: ` }),
        h("dd", { text: typeof v === "object" ? JSON.stringify(v) : String(v) })])) : null));
}

const setStatus = (text) => { $("gallery-status").textContent = text; };
