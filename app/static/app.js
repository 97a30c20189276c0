// The web page's form: pick a picture, model, method and target, submit, watch the progress.
// Plain JavaScript modules against the public API; no build step, no libraries.
import { ApiError, api, getKey, releaseAll, setKey } from "./api.js";
import { applyLayer, applyOpacity, showResult, watchRecon } from "./result.js";
import { $, clearError, option, pct, showError, sleep } from "./ui.js";

const POLL_MS = 500;
const state = {
  models: [],
  file: null,
  fileUrl: null,
  jobId: null,
  predictSeq: 0, // only the latest prediction may fill the target list
};

// --- models, methods, targets ----------------------------------------------------------------

const currentModel = () => state.models.find((m) => m.name === $("model").value);

async function loadModels() {
  try {
    state.models = await (await api("/models")).json();
  } catch (err) {
    $("model").replaceChildren(option("", "(models unavailable)"));
    showError(err, "Could not list the models");
    return;
  }
  const select = $("model");
  const previous = select.value;
  const names = state.models.map((m) => m.name);
  select.replaceChildren(...names.map((n) => option(n, n)));
  select.value = names.includes(previous) ? previous
    : names.includes("efficientnet_lite0") ? "efficientnet_lite0" : names[0] || "";
  onModelChange();
}

function onModelChange() {
  const model = currentModel();
  if (!model) return;
  const about = /[.!?]$/.test(model.description) || !model.description ? model.description : `${model.description}.`;
  $("model-description").textContent =
    `${about} Input ${model.input_size[1]}×${model.input_size[0]} px, source: ${model.source}.`.trim();
  const method = $("method");
  const previous = method.value;
  method.replaceChildren(...model.methods.map((m) => option(m, m)));
  method.value = model.methods.includes(previous) ? previous
    : model.methods.includes("oise") ? "oise" : model.methods[0];
  const recon = $("reconstruct");
  recon.disabled = !model.generator; // GET /models says which models declare one
  if (recon.disabled) recon.checked = false;
  $("reconstruct-help").textContent = model.generator
    ? "Variations of the salient region, drawn from the model's generator; run after the map."
    : `Model ${model.name} declares no generator, so its salient region cannot be reconstructed.`;
  predict();
}

// The model's top 5 for the picture (POST /predict), offered as targets.
async function predict() {
  const target = $("target");
  target.replaceChildren(option("", "the model's top class"));
  if (!state.file || !currentModel()) return;
  const seq = ++state.predictSeq;
  $("target-help").textContent = "Asking the model for its top 5…";
  const form = new FormData();
  form.append("image", state.file);
  form.append("model", currentModel().name);
  try {
    const top = await (await api("/predict", { method: "POST", body: form })).json();
    if (seq !== state.predictSeq) return;
    target.append(...top.map((p) => option(String(p.index), `${p.label} (${pct(p.score)})`)));
    $("target-help").textContent = `The model's top ${top.length} for this picture.`;
  } catch (err) {
    if (seq !== state.predictSeq) return;
    $("target-help").textContent = "The top 5 could not be computed.";
    showError(err, "Could not classify the picture");
  }
}

// --- the picture --------------------------------------------------------------------------------

function setFile(file) {
  if (!file) return;
  clearError();
  state.file = file;
  if (state.fileUrl) URL.revokeObjectURL(state.fileUrl);
  state.fileUrl = URL.createObjectURL(file);
  $("preview").src = state.fileUrl;
  $("preview").alt = `Preview of ${file.name}`;
  $("preview").hidden = false;
  predict();
}

function setUpDrop() {
  const zone = $("drop-zone");
  // A picture dropped beside the zone must not make the browser navigate away from the page.
  for (const type of ["dragover", "drop"]) document.addEventListener(type, (e) => e.preventDefault());
  zone.addEventListener("dragover", () => zone.classList.add("dragging"));
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (e) => {
    zone.classList.remove("dragging");
    const files = e.dataTransfer && e.dataTransfer.files;
    if (!files || !files.length) return;
    $("image").files = files; // so the input names the dropped file
    setFile(files[0]);
  });
  $("image").addEventListener("change", () => setFile($("image").files[0]));
}

// --- submitting and watching a job ----------------------------------------------------------------

// A JSON-object text box's value ({} when empty), or an ApiError naming the field.
function jsonObject(id, field, what) {
  const raw = $(id).value.trim();
  if (!raw) return {};
  let value;
  try { value = JSON.parse(raw); } catch (e) {
    throw new ApiError(0, { detail: `${what} are not valid JSON (${e.message}).`, field });
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new ApiError(0, { detail: `${what} must be a JSON object.`, field });
  }
  return value;
}

function buildForm() {
  const form = new FormData();
  form.append("image", state.file);
  form.append("model", $("model").value);
  form.append("method", $("method").value);
  const target = $("target-other").value.trim() || $("target").value;
  if (target) form.append("target", target);
  const params = jsonObject("params", "params", "Method options");
  const queries = $("queries").value.trim();
  if (queries) params.queries = Number(queries);
  if (Object.keys(params).length) form.append("params", JSON.stringify(params));
  const metrics = [...document.querySelectorAll("input[name=metrics]:checked")].map((c) => c.value);
  if (metrics.length) form.append("metrics", metrics.join(","));
  if ($("reconstruct").checked) {
    form.append("reconstruct", "true");
    const options = jsonObject("reconstruct-params", "reconstruct_params", "Reconstruction options");
    if (Object.keys(options).length) form.append("reconstruct_params", JSON.stringify(options));
  }
  return form;
}

async function onSubmit(event) {
  event.preventDefault();
  clearError();
  if (!state.file) {
    showError(new ApiError(0, { detail: "Choose or drop a picture first.", field: "image" }));
    return;
  }
  let form;
  try { form = buildForm(); } catch (err) { showError(err); return; }
  releaseAll();
  $("result").hidden = true;
  $("recon").hidden = true;
  setBusy(true);
  let submitted;
  try {
    submitted = await (await api("/explain", { method: "POST", body: form })).json();
  } catch (err) {
    setBusy(false);
    showError(err, "The job was not accepted");
    return;
  }
  state.jobId = submitted.job_id;
  showProgress(null, "Queued…");
  const job = await watchJob(submitted.job_id);
  setBusy(false);
  if (job && job.status === "finished") {
    await showResult(job, state.fileUrl);
    if (submitted.reconstruction) watchRecon(submitted.reconstruction);
  }
}

function setBusy(busy) {
  $("submit").disabled = busy;
  $("cancel").hidden = !busy;
  $("progress-box").hidden = false;
}

function showProgress(fraction, text) {
  if (fraction === null) $("progress").removeAttribute("value"); // indeterminate while queued
  else $("progress").value = fraction;
  $("progress-text").textContent = text;
}

// Poll GET /jobs/{id} until the job is final; returns the job, or null after an error.
async function watchJob(jobId) {
  for (;;) {
    let job;
    try {
      job = await (await api(`/jobs/${jobId}`)).json();
    } catch (err) {
      if (err.status === 429 || err.status === 503 || err.status === 0) { // passing trouble: wait
        await sleep(1000 * (Number(err.retryAfter) || 2));
        continue;
      }
      showError(err, "Lost track of the job");
      return null;
    }
    if (job.status === "queued") {
      showProgress(null, "Queued: waiting for a worker…");
    } else if (job.status === "started") {
      showProgress(job.progress, `Running: ${Math.round(100 * job.progress)}%` +
        (job.cancel_requested ? " (stopping…)" : ""));
    } else if (job.status === "finished") {
      const r = job.result;
      showProgress(1, `Finished in ${r.seconds.toFixed(1)} s (${r.queries} queries on ${r.device}).`);
      return job;
    } else if (job.status === "failed") {
      showProgress(0, "Failed.");
      showError(new ApiError(0, { detail: job.error || "no reason given" }), "The job failed");
      return job;
    } else {
      showProgress(0, "Canceled.");
      return job;
    }
    await sleep(POLL_MS);
  }
}

async function onCancel() {
  if (!state.jobId) return;
  try { await api(`/jobs/${state.jobId}/cancel`, { method: "POST" }); } catch (err) { showError(err, "Could not cancel"); }
}

// --- start -----------------------------------------------------------------------------------

$("api-key").value = getKey();
$("key-apply").addEventListener("click", () => {
  setKey($("api-key").value);
  clearError();
  loadModels();
});
$("model").addEventListener("change", onModelChange);
$("opacity").addEventListener("input", applyOpacity);
$("show-uncertainty").addEventListener("change", applyLayer);
$("explain-form").addEventListener("submit", onSubmit);
$("cancel").addEventListener("click", onCancel);
setUpDrop();
loadModels();
