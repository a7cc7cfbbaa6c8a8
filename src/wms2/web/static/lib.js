// WMS2 dashboard helpers: DOM building (text only, never innerHTML), API calls, formatting, dialogs.
// Every value from the server reaches the page through createTextNode/textContent, so names and log
// tails containing markup render as text.

export const session = { name: "", role: "viewer", csrf: null, poll: 3 };
const ROLES = { viewer: 1, requestor: 2, operator: 3 };

export function can(role) { return (ROLES[session.role] || 0) >= ROLES[role]; }

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "href") el.setAttribute("href", safeHref(v));
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

function safeHref(v) { const s = String(v); return s.startsWith("#/") || s.startsWith("/") ? s : "#/"; }

export function route(...parts) { return "#/" + parts.map((p) => encodeURIComponent(String(p))).join("/"); }

export function fill(el, ...children) { el.replaceChildren(); append(el, children); return el; }

export function badge(status) { return h("span", { class: `badge s-${String(status).replace(/[^a-z_]/gi, "")}` }, status); }

export function bar(percent, label) {
  const fillEl = h("span");
  fillEl.style.width = `${Math.max(0, Math.min(100, percent || 0)).toFixed(1)}%`;
  return h("div", { class: "bar", role: "progressbar", "aria-valuenow": (percent || 0).toFixed(1) }, fillEl,
    h("em", {}, label));
}

export function num(n) { return n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"); }

export function pct(x, digits = 1) { return x === null || x === undefined ? "–" : `${(100 * x).toFixed(digits)}%`; }

export function duration(s) {
  if (s === null || s === undefined) return "–";
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} d`;
}

export function when(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toISOString().replace("T", " ").slice(0, 19) + "Z";
}

export class ApiError extends Error {
  constructor(status, detail) { super(detail); this.status = status; }
}

export async function api(path, opts = {}) {
  const headers = { Accept: "application/json" };
  if (opts.body !== undefined) headers["Content-Type"] = "application/json";
  if (opts.method && opts.method !== "GET" && session.csrf) headers["X-CSRF-Token"] = session.csrf;
  const resp = await fetch(path.startsWith("/") ? path : `/api/v1/${path}`, {
    method: opts.method || "GET", headers, credentials: "same-origin",
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  if (resp.status === 401) { window.location.assign("/login"); throw new ApiError(401, "signed out"); }
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { detail: text }; }
  if (!resp.ok) throw new ApiError(resp.status, (data && data.detail) || `HTTP ${resp.status}`);
  return data;
}

export function toast(message) {
  const el = document.getElementById("toast");
  el.textContent = message;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, 5000);
}

// An action dialog: extra fields, a required reason, a confirmation step, the server's answer shown.
export function actionDialog({ title, explain, fields = [], submit, onDone, danger = false }) {
  const reason = h("textarea", { name: "reason", required: true, maxlength: 500, placeholder: "why (kept in the audit trail)" });
  const inputs = fields.map((f) => {
    const input = f.options
      ? h("select", { name: f.name }, f.options.map((o) => h("option", { value: o }, o)))
      : h("input", { name: f.name, type: f.type || "text", placeholder: f.placeholder || "", min: f.min, value: f.value });
    return { f, input, row: [h("label", {}, f.label), input] };
  });
  const result = h("div", { class: "result", hidden: true });
  const go = h("button", { class: `btn ${danger ? "danger" : "primary"}`, type: "button", "data-role": "confirm" }, "Continue");
  const cancel = h("button", { class: "btn", type: "button" }, "Cancel");
  const dlg = h("dialog", { class: "action-dialog" }, h("h3", {}, title), explain ? h("p", { class: "muted" }, explain) : null,
    inputs.map((i) => i.row), h("label", {}, "Reason"), reason, result, h("div", { class: "row" }, cancel, go));
  let confirmed = false;
  cancel.addEventListener("click", () => dlg.close());
  dlg.addEventListener("close", () => dlg.remove());
  go.addEventListener("click", async () => {
    if (!reason.value.trim()) { reason.focus(); showResult(result, false, "A reason is required."); return; }
    if (!confirmed) {
      confirmed = true;
      go.textContent = "Confirm";
      showResult(result, true, `${title}: press Confirm to proceed.`);
      return;
    }
    const values = {};
    for (const { f, input } of inputs) {
      const v = input.value.trim();
      if (v === "") continue;
      values[f.name] = f.type === "number" ? Number(v) : f.list ? v.split(/[\s,]+/).filter(Boolean) : v;
    }
    go.disabled = true;
    try {
      const answer = await submit(reason.value.trim(), values);
      showResult(result, true, `Done: ${summarize(answer)}`);
      go.hidden = true;
      cancel.textContent = "Close";
      if (onDone) onDone(answer);
    } catch (err) {
      showResult(result, false, `Refused (${err.status || "error"}): ${err.message}`);
      go.disabled = false;
    }
  });
  document.body.appendChild(dlg);
  dlg.showModal();
  return dlg;
}

function summarize(answer) {
  if (!answer) return "ok";
  if (answer.status && answer.name) return `${answer.name} is now ${answer.status}`;
  if (answer.new_request) return `new request ${answer.new_request}`;
  if (answer.site && answer.active !== undefined) return `ban ${answer.id} on ${answer.site} ${answer.active ? "in force" : "lifted"}`;
  if (answer.status) return `status ${answer.status}`;
  return "ok";
}

function showResult(el, ok, text) { el.hidden = false; el.className = `result ${ok ? "ok" : "err"}`; el.textContent = text; }

export function table(headers, rows) {
  return h("div", { class: "scroll" }, h("table", {}, h("thead", {}, h("tr", {}, headers.map((x) => h("th", { class: x.endsWith(" ") ? "num" : "" }, x.trim())))),
    h("tbody", {}, rows)));
}
