// Small DOM helpers: element building, bars, error and busy states.
import { ApiError } from "./api.js";

/** h("div", {class: "x"}, child, "text") -> an element (attributes set safely, no innerHTML). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") el.className = value;
    else if (name === "text") el.textContent = value;
    else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export const $ = (id) => document.getElementById(id);

/** A row: name, a bar of `share` (0..1), the number, and an optional line under the bar. */
export function bar(name, share, number, sub) {
  const fill = h("div", { class: "fill" });
  fill.style.width = `${Math.max(0, Math.min(1, share)) * 100}%`;  // CSSOM: allowed by the CSP
  return h("li", { class: "bar" },
    h("span", { class: "name", title: name, text: name }),
    h("div", { class: "track" }, fill),
    h("span", { class: "num", text: number }),
    sub ? h("span", { class: "sub", text: sub }) : null);
}

export const percent = (p) => `${(p * 100).toFixed(p >= 0.1 ? 1 : 2)}%`;

/** Show `error` (an ApiError or any Error) in the alert element `el`; null hides it. */
export function showError(el, error) {
  if (!error) { el.hidden = true; el.replaceChildren(); return; }
  const parts = [h("strong", { text: error.message || String(error) })];
  if (error instanceof ApiError && (error.type || error.requestId)) {
    const bits = [error.status ? `HTTP ${error.status}` : "", error.type, error.requestId ? `request ${error.requestId}` : ""];
    parts.push(h("small", { text: bits.filter(Boolean).join(" · ") }));
  }
  if (error instanceof ApiError && error.status === 401) {
    parts.push(h("small", { text: "Set the API key (top right) to the service's MMS_API_KEY." }));
  }
  el.replaceChildren(...parts);
  el.hidden = false;
}

/** Run `task` with `button` disabled; errors go to `errorEl`. */
export async function busy(button, errorEl, task) {
  if (button) button.disabled = true;
  showError(errorEl, null);
  try { return await task(); }
  catch (err) { showError(errorEl, err); return undefined; }
  finally { if (button) button.disabled = false; }
}

/** Make a .drop label accept dragged files; `onFiles(FileList)` gets dropped or picked files. */
export function dropZone(label, input, onFiles) {
  label.addEventListener("dragover", (e) => { e.preventDefault(); label.classList.add("over"); });
  label.addEventListener("dragleave", () => label.classList.remove("over"));
  label.addEventListener("drop", (e) => {
    e.preventDefault();
    label.classList.remove("over");
    if (e.dataTransfer.files.length) onFiles(e.dataTransfer.files);
  });
  input.addEventListener("change", () => { if (input.files.length) onFiles(input.files); input.value = ""; });
}

/** Show `file` in `img` through an object URL (revoking the previous one). */
export function preview(img, file) {
  if (img.dataset.url) URL.revokeObjectURL(img.dataset.url);
  img.dataset.url = URL.createObjectURL(file);
  img.src = img.dataset.url;
  img.alt = file.name;
  img.hidden = false;
}
