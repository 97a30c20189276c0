// Showing a finished job: the original beside the heatmap over it (opacity set live in the
// browser; for sampling methods a toggle swaps in the uncertainty heatmap and the stability is
// shown), the top 5, the metrics, the downloads; then the reconstructions when asked for.
import { api, blobUrl, getKey, keep, url } from "./api.js";
import { $, pct, showError, sleep } from "./ui.js";

export async function showResult(job, pictureUrl) {
  const r = job.result;
  $("original").src = pictureUrl;
  $("overlay-base").src = pictureUrl;
  layers.saliency = layers.uncertainty = null;
  try {
    layers.saliency = await blobUrl(r.artifacts["saliency.png"]);
  } catch (err) {
    showError(err, "Could not load the heatmap");
  }
  showUncertaintyToggle(r);
  applyLayer();
  applyOpacity();
  showTop5(r);
  showMetrics(r.metrics || {});
  const json = keep(URL.createObjectURL(new Blob([JSON.stringify(job, null, 2)], { type: "application/json" })));
  $("downloads").replaceChildren(
    download(r.artifacts["saliency.npy"], `${job.job_id}-saliency.npy`, "Saliency map (NumPy .npy, float32)"),
    download(r.artifacts["saliency.png"], `${job.job_id}-saliency.png`, "Heatmap (PNG)"),
    download(r.artifacts["overlay.png"], `${job.job_id}-overlay.png`, "Heatmap over the picture (PNG)"),
    ...(r.artifacts["uncertainty.npy"] ? [
      download(r.artifacts["uncertainty.npy"], `${job.job_id}-uncertainty.npy`,
        "Uncertainty: per-pixel standard error of the map (NumPy .npy, float32)"),
      download(r.artifacts["uncertainty.png"], `${job.job_id}-uncertainty.png`, "Uncertainty heatmap (PNG)"),
    ] : []),
    download(json, `${job.job_id}-result.json`, "Result (JSON)", true),
  );
  $("explained").textContent = `Explained class: ${r.target.label} (class ${r.target.index}), ` +
    `probability ${pct(r.target.score)}; method ${job.method} on ${job.model}.`;
  $("result").hidden = false;
}

// The heatmap layer shows the map or, toggled, its uncertainty (sampling methods only).
const layers = { saliency: null, uncertainty: null };

function showUncertaintyToggle(r) {
  const has = r.stability !== undefined && r.stability !== null && r.artifacts["uncertainty.png"];
  $("layer-box").hidden = !has;
  $("show-uncertainty").checked = false;
  if (!has) {
    $("stability").textContent = "";
    return;
  }
  const stopped = { target: "target reached", cap: "query cap spent before the target", budget: "fixed budget" };
  $("stability").textContent = `Stability ${r.stability.toFixed(2)} (${r.queries} queries, ` +
    `${stopped[r.stopped] || r.stopped})` + (r.stability < 0.9 ? ": the map is noisy, spend more queries" : "");
  blobUrl(r.artifacts["uncertainty.png"]).then((u) => { layers.uncertainty = u; applyLayer(); })
    .catch((err) => showError(err, "Could not load the uncertainty"));
}

export function applyLayer() {
  const unsure = $("show-uncertainty").checked && layers.uncertainty;
  const src = unsure ? layers.uncertainty : layers.saliency;
  if (src) $("heatmap").src = src;
  $("heatmap").alt = unsure
    ? "Uncertainty heatmap over the picture: warm colours mark where the map is least sure"
    : "Saliency heatmap over the picture: warm colours mark the regions the class score rests on";
}

export function applyOpacity() {
  const v = Number($("opacity").value);
  $("heatmap").style.opacity = String(v);
  $("opacity-value").textContent = `${Math.round(100 * v)}%`;
}

function showTop5(r) {
  $("top5").replaceChildren(...r.top5.map((p) => {
    const li = document.createElement("li");
    li.textContent = `${p.label} (class ${p.index}): ${pct(p.score)}`;
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.width = `${Math.max(1, 12 * p.score)}rem`;
    bar.setAttribute("aria-hidden", "true");
    li.append(bar);
    if (p.index === r.target.index) li.classList.add("explained");
    return li;
  }));
}

function showMetrics(metrics) {
  const rows = Object.entries(metrics).map(([name, m]) => {
    const tr = document.createElement("tr");
    for (const text of [name, m.auc.toFixed(3), String(m.queries)]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.append(td);
    }
    return tr;
  });
  $("metrics").tBodies[0].replaceChildren(...rows);
  $("metrics-box").hidden = rows.length === 0;
}

// A download link. With a key set, the file is fetched with it and saved from a blob.
function download(href, filename, text, local = false) {
  const li = document.createElement("li");
  const a = document.createElement("a");
  a.href = local ? href : url(href);
  a.download = filename;
  a.textContent = text;
  if (!local) {
    a.addEventListener("click", async (e) => {
      if (!getKey()) return;
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

// Poll a reconstruction (POST /explain with reconstruct=true) until it ends, then show it.
export async function watchRecon(url) {
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
    if (rec.status === "queued") {
      bar.removeAttribute("value");
      $("recon-text").textContent = "Queued…";
    } else if (rec.status === "started") {
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
  const held = rec.variations.filter((v) => v.held).length;
  $("recon-text").textContent = `Acceptance ${pct(rec.acceptance)} (the top class held in ${held} of ` +
    `${rec.variations.length} variations); mean target probability ${pct(rec.mean_target_probability)}; ` +
    `diversity ${rec.diversity.toFixed(3)}.`;
  try {
    $("recon-grid").src = await blobUrl(rec.pictures["variations.png"]);
    $("recon-grid").hidden = false;
  } catch (err) { showError(err, "Could not load the variations"); }
  $("recon-gallery").replaceChildren(...rec.variations.map((v) => {
    const li = document.createElement("li");
    li.className = v.held ? "held" : "changed";
    const fig = document.createElement("figure");
    const img = document.createElement("img");
    img.alt = `Variation ${v.index}: classified as ${v.predicted.label} (class ${v.held ? "held" : "changed"})`;
    const cap = document.createElement("figcaption");
    cap.textContent = `${v.predicted.label}, p(target) ${pct(v.target_probability)}`;
    fig.append(img, cap);
    li.append(fig);
    blobUrl(v.picture).then((u) => { img.src = u; }).catch(() => { img.alt += " (could not load)"; });
    return li;
  }));
}
