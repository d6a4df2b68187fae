// The page's entry point: tabs (by URL hash), the API key field, and each page's set-up.
import { apiKey, setApiKey } from "./api.js";
import { $ } from "./dom.js";
import { initClassify } from "./classify.js";
import { initGallery, showGallery } from "./gallery.js";
import { showModels } from "./models.js";
import { initRank } from "./rank.js";

const PAGES = { classify: null, rank: null, gallery: showGallery, models: showModels };

function showPage() {
  const name = window.location.hash.slice(1) in PAGES ? window.location.hash.slice(1) : "classify";
  for (const page of Object.keys(PAGES)) $(page).hidden = page !== name;
  for (const tab of document.querySelectorAll(".tabs a")) {
    tab.classList.toggle("active", tab.dataset.tab === name);
    if (tab.dataset.tab === name) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
  if (PAGES[name]) PAGES[name]();
}

function initKey() {
  const input = $("api-key");
  const mark = () => $("key-summary").classList.toggle("set", Boolean(apiKey()));
  input.value = apiKey();
  mark();
  $("key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    setApiKey(input.value.trim());
    mark();
    $("key-panel").open = false;
    window.location.reload();  // reload the lists with the new key
  });
  $("key-clear").addEventListener("click", () => { input.value = ""; setApiKey(""); mark(); });
}

initKey();
const classifyReady = initClassify();
initRank();
initGallery();
window.addEventListener("hashchange", showPage);
showPage();
// Ready once the model list is in the classify form (it catches its own errors): marked before
// that, a photo chosen at once went to the default model and the list could still be empty.
await classifyReady;
document.body.dataset.ready = "true";
