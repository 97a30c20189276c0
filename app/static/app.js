// The web page's logic: plain JavaScript against the public API, no build step, no libraries.
// Pictures are fetched with the API key (when one is set) and shown from blob: URLs, since an
// <img src> cannot carry an Authorization header.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const POLL_MS = 500;
  const KEY_STORE = "saliency-api-key"; // sessionStorage: forgotten when the tab closes

  const state = {
    key: sessionStorage.getItem(KEY_STORE) || "",
    models: [],
    file: null,
    fileUrl: null,
    blobUrls: [], // of the current result, revoked on the next submission
    jobId: null,
    predictSeq: 0, // only the latest prediction may fill the target list
  };

  // --- talking to the API -------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, body, retryAfter) {
      super(body.detail || `HTTP ${status}`);
      this.status = status;
      this.code = body.code || null;
      this.field = body.field || null;
      this.retryAfter = retryAfter;
    }
  }

  function authHeaders() {
    return state.key ? { Authorization: `Bearer ${state.key}` } : {};
  }

  async function api(path, options = {}) {
    let res;
    try {
      res = await fetch(path, { ...options, headers: { ...authHeaders(), ...(options.headers || {}) } });
    } catch (e) {
      throw new ApiError(0, { detail: `The service did not answer (${e.message}).`, code: "network" });
    }
    if (!res.ok) {
      let body;
      try { body = await res.json(); } catch { body = { detail: `${res.status} ${res.statusText}` }; }
      throw new ApiError(res.status, body, res.headers.get("Retry-After"));
    }
    return res;
  }

  async function blobUrl(path) {
    const url = URL.createObjectURL(await (await api(path)).blob());
    state.blobUrls.push(url);
    return url;
  }

  // --- errors ---------------------------------------------------------------------------------

  // API error field -> the form control it is about.
  function controlFor(field) {
    if (!field) return null;
    if (field === "params.queries") return $("queries");
    if (field.startsWith("params")) return $("params");
    if (field.startsWith("reconstruct")) return $("reconstruct");
    if (field === "metrics") return $("metric-deletion");
    if (field === "target") return $("target-other").value.trim() ? $("target-other") : $("target");
    return { model: $("model"), method: $("method"), image: $("image") }[field] || null;
  }

  function clearError() {
    $("error").hidden = true;
    $("error").textContent = "";
    document.querySelectorAll("[aria-invalid=true]").forEach((el) => el.removeAttribute("aria-invalid"));
  }

  function showError(err, context) {
    const box = $("error");
    let text = err.message;
    if (err.field) text += ` (field: ${err.field})`;
    if (err.status === 401) {
      text = "This service needs an API key: paste it under “API key” and press “Use key”.";
      $("key-box").open = true;
      $("api-key").focus();
    } else if (err.status === 429 || err.status === 503) {
      if (err.retryAfter) text += ` Try again in ${err.retryAfter} s.`;
    }
    box.textContent = context ? `${context}: ${text}` : text;
    box.hidden = false;
    const control = controlFor(err.field);
    if (control) {
      control.setAttribute("aria-invalid", "true");
      if (control.closest("details")) control.closest("details").open = true;
    }
  }

  // --- models, methods, targets -------------------------------------------------------------

  function currentModel() {
    return state.models.find((m) => m.name === $("model").value);
  }

  function option(value, text) {
    const o = document.createElement("option");
    o.value = value;
    o.textContent = text;
    return o;
  }

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
    select.replaceChildren(...state.models.map((m) => option(m.name, m.name)));
    const names = state.models.map((m) => m.name);
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
    recon.disabled = !model.generator;
    if (recon.disabled) recon.checked = false;
    $("reconstruct-help").textContent = model.generator
      ? "Variations of the salient region, drawn from the model's generator; run after the map."
      : `Model ${model.name} declares no generator, so its salient region cannot be reconstructed.`;
    predict();
  }

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
      for (const p of top) target.append(option(String(p.index), `${p.label} (${pct(p.score)})`));
      $("target-help").textContent = `The model's top ${top.length} for this picture.`;
    } catch (err) {
      if (seq !== state.predictSeq) return;
      $("target-help").textContent = "The top 5 could not be computed.";
      showError(err, "Could not classify the picture");
    }
  }

  function pct(x) {
    return `${(100 * x).toFixed(1)}%`;
  }

  // --- the picture ----------------------------------------------------------------------------

  function setFile(file) {
    if (!file) return;
    clearError();
    state.file = file;
    if (state.fileUrl) URL.revokeObjectURL(state.fileUrl);
    state.fileUrl = URL.createObjectURL(file);
    const preview = $("preview");
    preview.src = state.fileUrl;
    preview.alt = `Preview of ${file.name}`;
    preview.hidden = false;
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

  // --- submitting and watching a job -----------------------------------------------------------

  function buildForm() {
    const form = new FormData();
    form.append("image", state.file);
    form.append("model", $("model").value);
    form.append("method", $("method").value);
    const target = $("target-other").value.trim() || $("target").value;
    if (target) form.append("target", target);
    let params = {};
    const raw = $("params").value.trim();
    if (raw) {
      try { params = JSON.parse(raw); } catch (e) {
        throw new ApiError(0, { detail: `Method options are not valid JSON (${e.message}).`, field: "params" });
      }
      if (params === null || typeof params !== "object" || Array.isArray(params)) {
        throw new ApiError(0, { detail: "Method options must be a JSON object.", field: "params" });
      }
    }
    const queries = $("queries").value.trim();
    if (queries) params.queries = Number(queries);
    if (Object.keys(params).length) form.append("params", JSON.stringify(params));
    const metrics = [...document.querySelectorAll("input[name=metrics]:checked")].map((c) => c.value);
    if (metrics.length) form.append("metrics", metrics.join(","));
    if ($("reconstruct").checked) form.append("reconstruct", "true");
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
    state.blobUrls.forEach((u) => URL.revokeObjectURL(u));
    state.blobUrls = [];
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
    if (job && job.status === "finished") await showResult(job);
    if (job && job.status === "finished" && submitted.reconstruction) watchRecon(submitted.reconstruction);
  }

  function setBusy(busy) {
    $("submit").disabled = busy;
    $("cancel").hidden = !busy;
    $("progress-box").hidden = false;
  }

  function showProgress(fraction, text) {
    const bar = $("progress");
    if (fraction === null) bar.removeAttribute("value"); // indeterminate while queued
    else bar.value = fraction;
    $("progress-text").textContent = text;
  }

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  // Poll GET /jobs/{id} until the job is final; returns the job, or null after an error.
  async function watchJob(jobId) {
    for (;;) {
      let job;
      try {
        job = await (await api(`/jobs/${jobId}`)).json();
      } catch (err) {
        if (err.status === 429 || err.status === 503 || err.status === 0) { // pass; keep watching
          await sleep(1000 * (Number(err.retryAfter) || 2));
          continue;
        }
        showError(err, "Lost track of the job");
        return null;
      }
      if (job.status === "queued") showProgress(null, "Queued: waiting for a worker…");
      else if (job.status === "started") {
        showProgress(job.progress, `Running: ${Math.round(100 * job.progress)}%` +
          (job.cancel_requested ? " (stopping…)" : ""));
      } else if (job.status === "finished") {
        showProgress(1, `Finished in ${job.result.seconds.toFixed(1)} s (${job.result.queries} queries on ${job.result.device}).`);
        return job;
      } else if (job.status === "failed") {
        showProgress(0, "Failed.");
        showError(new ApiError(0, { detail: job.error || "no reason given" }), "The job failed");
        return job;
      } else if (job.status === "canceled") {
        showProgress(0, "Canceled.");
        return job;
      }
      await sleep(POLL_MS);
    }
  }

  async function onCancel() {
    if (!state.jobId) return;
    try { await api(`/jobs/${state.jobId}`, { method: "DELETE" }); } catch (err) { showError(err, "Could not cancel"); }
  }

  // --- the result --------------------------------------------------------------------------

  async function showResult(job) {
    const r = job.result;
    $("original").src = state.fileUrl;
    $("overlay-base").src = state.fileUrl;
    try {
      $("heatmap").src = await blobUrl(r.artifacts["saliency.png"]);
    } catch (err) {
      showError(err, "Could not load the heatmap");
    }
    applyOpacity();

    const list = $("top5");
    list.replaceChildren();
    for (const p of r.top5) {
      const li = document.createElement("li");
      li.textContent = `${p.label} (class ${p.index}): ${pct(p.score)}`;
      const bar = document.createElement("span");
      bar.className = "bar";
      bar.style.width = `${Math.max(1, 12 * p.score)}rem`;
      bar.setAttribute("aria-hidden", "true");
      li.append(bar);
      if (p.index === r.target.index) li.classList.add("explained");
      list.append(li);
    }
    $("explained").textContent = `Explained class: ${r.target.label} (class ${r.target.index}), ` +
      `probability ${pct(r.target.score)}; method ${job.method} on ${job.model}.`;

    const metrics = Object.entries(r.metrics || {});
    $("metrics-box").hidden = metrics.length === 0;
    $("metrics").tBodies[0].replaceChildren(...metrics.map(([name, m]) => {
      const tr = document.createElement("tr");
      for (const text of [name, m.auc.toFixed(3), String(m.queries)]) {
        const td = document.createElement("td");
        td.textContent = text;
        tr.append(td);
      }
      return tr;
    }));

    const json = URL.createObjectURL(new Blob([JSON.stringify(job, null, 2)], { type: "application/json" }));
    state.blobUrls.push(json);
    $("downloads").replaceChildren(
      download(r.artifacts["saliency.npy"], `${job.job_id}-saliency.npy`, "Saliency map (NumPy .npy, float32)"),
      download(r.artifacts["saliency.png"], `${job.job_id}-saliency.png`, "Heatmap (PNG)"),
      download(r.artifacts["overlay.png"], `${job.job_id}-overlay.png`, "Heatmap over the picture (PNG)"),
      download(json, `${job.job_id}-result.json`, "Result (JSON)", true),
    );
    $("result").hidden = false;
  }

  // A download link. With a key set, the file is fetched with it and saved from a blob.
  function download(href, filename, text, local = false) {
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = href;
    a.download = filename;
    a.textContent = text;
    if (!local) {
      a.addEventListener("click", async (e) => {
        if (!state.key) return;
        e.preventDefault();
        try {
          const tmp = document.createElement("a");
          tmp.href = await blobUrl(href);
          tmp.download = filename;
          tmp.click();
        } catch (err) { showError(err, `Could not download ${filename}`); }
      });
    }
    li.append(a);
    return li;
  }

  function applyOpacity() {
    const v = Number($("opacity").value);
    $("heatmap").style.opacity = String(v);
    $("opacity-value").textContent = `${Math.round(100 * v)}%`;
  }

  // --- reconstructions ----------------------------------------------------------------------

  async function watchRecon(url) {
    $("recon").hidden = false;
    const bar = $("recon-progress");
    for (;;) {
      let rec;
      try {
        rec = await (await api(url)).json();
      } catch (err) {
        showError(err, "Lost track of the reconstruction");
        return;
      }
      if (rec.status === "queued") { bar.removeAttribute("value"); $("recon-text").textContent = "Queued…"; }
      else if (rec.status === "started") {
        bar.value = rec.progress;
        $("recon-text").textContent = `Running: ${Math.round(100 * rec.progress)}%`;
      } else if (rec.status === "finished") {
        bar.value = 1;
        await showRecon(rec);
        return;
      } else {
        $("recon-text").textContent = rec.status === "failed" ? `Failed: ${rec.error}` : "Canceled.";
        return;
      }
      await sleep(1000);
    }
  }

  async function showRecon(rec) {
    $("recon-text").textContent = `Acceptance ${pct(rec.acceptance)} (the top class held in ` +
      `${rec.variations.filter((v) => v.held).length} of ${rec.variations.length} variations); ` +
      `mean target probability ${pct(rec.mean_target_probability)}; diversity ${rec.diversity.toFixed(3)}.`;
    const grid = $("recon-grid");
    try {
      grid.src = await blobUrl(rec.pictures["variations.png"]);
      grid.hidden = false;
    } catch (err) { showError(err, "Could not load the variations"); }
    const gallery = $("recon-gallery");
    gallery.replaceChildren();
    for (const v of rec.variations) {
      const li = document.createElement("li");
      li.className = v.held ? "held" : "changed";
      const fig = document.createElement("figure");
      const img = document.createElement("img");
      img.alt = `Variation ${v.index}: classified as ${v.predicted.label}` + (v.held ? " (class held)" : " (class changed)");
      const cap = document.createElement("figcaption");
      cap.textContent = `${v.predicted.label}, p(target) ${pct(v.target_probability)}`;
      fig.append(img, cap);
      li.append(fig);
      gallery.append(li);
      blobUrl(v.picture).then((u) => { img.src = u; }).catch(() => { img.alt += " (could not load)"; });
    }
  }

  // --- start ------------------------------------------------------------------------------

  function init() {
    $("api-key").value = state.key;
    $("key-apply").addEventListener("click", () => {
      state.key = $("api-key").value.trim();
      if (state.key) sessionStorage.setItem(KEY_STORE, state.key); else sessionStorage.removeItem(KEY_STORE);
      clearError();
      loadModels();
    });
    $("model").addEventListener("change", onModelChange);
    $("opacity").addEventListener("input", applyOpacity);
    $("explain-form").addEventListener("submit", onSubmit);
    $("cancel").addEventListener("click", onCancel);
    setUpDrop();
    loadModels();
  }

  init();
})();
