// Small page helpers, and showing an API error next to the control it is about.

export const $ = (id) => document.getElementById(id);
export const pct = (x) => `${(100 * x).toFixed(1)}%`;
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function option(value, text) {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = text;
  return o;
}

// API error field -> the form control it is about.
function controlFor(field) {
  if (!field) return null;
  if (field === "params.queries") return $("queries");
  if (field.startsWith("params")) return $("params");
  if (field.startsWith("reconstruct_params")) return $("reconstruct-params");
  if (field.startsWith("reconstruct")) return $("reconstruct");
  if (field === "metrics") return $("metric-deletion");
  if (field === "target") return $("target-other").value.trim() ? $("target-other") : $("target");
  return { model: $("model"), method: $("method"), image: $("image") }[field] || null;
}

export function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
  document.querySelectorAll("[aria-invalid=true]").forEach((el) => el.removeAttribute("aria-invalid"));
}

export function showError(err, context) {
  let text = err.message;
  if (err.field) text += ` (field: ${err.field})`;
  if (err.status === 401) {
    text = "This service needs an API key: paste it under “API key” and press “Use key”.";
    $("key-box").open = true;
    $("api-key").focus();
  } else if ((err.status === 429 || err.status === 503) && err.retryAfter) {
    text += ` Try again in ${err.retryAfter} s.`;
  }
  $("error").textContent = context ? `${context}: ${text}` : text;
  $("error").hidden = false;
  const control = controlFor(err.field);
  if (control) {
    control.setAttribute("aria-invalid", "true");
    if (control.closest("details")) control.closest("details").open = true;
  }
}
