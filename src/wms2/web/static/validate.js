// Validations panel of the request page (issue 17): the physics validations this request takes part in,
// live while one is queued or running (each active job is re-read on the page's refresh tick), with its
// verdict and a link to its report when done. Operators start a new one against another request: the
// dashboard's convention (a reason, a second click to confirm, the CSRF header through lib.js api(), the
// server's answer or its refusal shown). Every value reaches the DOM as text (lib.js h()).
import { api, ApiError, badge, bar, can, duration, fill, h, num, route, when } from "./lib.js";

const ACTIVE = ["queued", "running"];
const STAGES = { headers: "reading file headers", scan: "comparing entry ranges" };
// Share of the progress bar given to the header pass: the scan pass reads the data, most of the work.
const HEADERS_SHARE = 10;

export function validationsPanel(el, name) {
  const list = h("div", { id: "validation-list" }, h("p", { class: "muted" }, "Loading…"));
  const start = can("operator")
    ? h("div", { class: "actions panel-actions" }, h("button", { class: "btn", type: "button", "data-action": "validate",
      onclick: () => startDialog(name, started) }, "Start a validation…"))
    : null;
  fill(el, start, list);
  let items = null; // null until the first listing
  let unavailable = false;
  let drawnKey = "";

  function started(answer) {
    items = [answer, ...(items || []).filter((v) => v.id !== answer.id)];
    draw();
  }

  async function refresh() {
    if (unavailable) return;
    try {
      if (items === null) {
        items = (await api(`validations?request=${encodeURIComponent(name)}`)).items;
      } else {
        const active = items.filter((v) => ACTIVE.includes(v.status));
        if (!active.length) return;
        const fresh = await Promise.all(active.map((v) => api(`validations/${v.id}?result=false`)));
        items = items.map((v) => fresh.find((f) => f.id === v.id) || v);
      }
    } catch (err) {
      if (items === null && err instanceof ApiError && err.status === 404) {
        unavailable = true;
        fill(list, h("p", { class: "muted" }, "Physics validation is not available on this server."));
        return;
      }
      throw err;
    }
    draw();
  }

  function draw() {
    const key = JSON.stringify(items);
    if (key === drawnKey) return;
    drawnKey = key;
    if (!items.length) { fill(list, h("p", { class: "muted" }, "No validation of this request yet.")); return; }
    fill(list, h("div", { class: "scroll" }, h("table", { class: "validations" },
      h("thead", {}, h("tr", {}, ["#", "Reference → new", "State", "Verdict", "Report", "By"].map((x) => h("th", {}, x)))),
      h("tbody", {}, items.map(row)))));
  }

  function side(n) { return n === name ? h("strong", {}, n) : h("a", { href: route("request", n) }, n); }

  function row(v) {
    const report = v.report_url && String(v.report_url).startsWith("/")
      ? h("a", { href: v.report_url, target: "_blank", rel: "noopener", "data-report": v.id }, "report") : "–";
    return h("tr", { "data-validation": v.id, "data-status": v.status },
      h("td", { class: "num" }, v.id),
      h("td", { class: "name" }, side(v.ref), " → ", side(v.new), v.reason ? h("div", { class: "muted" }, v.reason) : null),
      h("td", { class: "state" }, state(v)),
      h("td", { class: "verdict" }, v.verdict ? badge(v.verdict)
        : v.status === "failed" ? h("span", { class: "error" }, v.error || "failed") : "–"),
      h("td", {}, report),
      h("td", { class: "who-cell" }, v.created_by, h("div", { class: "muted" }, when(v.created_at))));
  }

  return { refresh };
}

function state(v) {
  const p = v.progress;
  if (v.status === "running" && p) {
    const frac = p.total ? p.done / p.total : 0;
    const percent = p.stage === "headers" ? HEADERS_SHARE * frac : HEADERS_SHARE + (100 - HEADERS_SHARE) * frac;
    return [badge(v.status), bar(percent, `${num(p.done)} / ${num(p.total)}`), h("div", { class: "muted stage" }, STAGES[p.stage] || p.stage)];
  }
  if (v.status === "queued" && v.queue_position) return [badge(v.status), h("span", { class: "muted" }, ` #${v.queue_position} in line`)];
  if (v.status === "done" && v.started_at && v.finished_at) {
    return [badge(v.status), h("span", { class: "muted" }, ` in ${duration((new Date(v.finished_at) - new Date(v.started_at)) / 1000)}`)];
  }
  return badge(v.status);
}

// The start dialog: the other request (picked from those with registered outputs, or typed), which side
// is the reference, a reason; Continue, then Confirm, then POST /validations.
function startDialog(name, onStarted) {
  const other = h("input", { name: "other", autocomplete: "off", maxlength: 200, placeholder: "another request's name" });
  const pick = h("select", { name: "pick" }, h("option", { value: "" }, "loading the requests with outputs…"));
  const role = h("select", { name: "role" },
    h("option", { value: "new" }, "this request is the new one: the other is the reference"),
    h("option", { value: "ref" }, "this request is the reference"));
  const preview = h("p", { class: "preview", "data-role": "preview" });
  const note = h("p", { class: "muted", "data-role": "note" });
  const reason = h("textarea", { name: "reason", maxlength: 500, placeholder: "why (shown with the validation)" });
  const result = h("div", { class: "result", hidden: true });
  const go = h("button", { class: "btn primary", type: "button", "data-role": "confirm" }, "Continue");
  const cancel = h("button", { class: "btn", type: "button" }, "Cancel");
  const dlg = h("dialog", { class: "action-dialog validation-dialog" }, h("h3", {}, `Validate ${name}`),
    h("p", { class: "muted" }, "Compares the registered ROOT outputs of the two requests, branch by branch, in the background."),
    h("label", {}, "Other request (pick one with registered outputs, or type its name)"), pick, other,
    h("label", {}, "Which side is the reference"), role, preview, note,
    h("label", {}, "Reason"), reason, result, h("div", { class: "row" }, cancel, go));
  let confirmed = false;
  const sides = () => {
    const o = other.value.trim();
    return role.value === "ref" ? { ref: name, new: o } : { ref: o, new: name };
  };
  const changed = () => {
    const s = sides();
    preview.textContent = `Reference: ${s.ref || "?"} → new: ${s.new || "?"}`;
    other.classList.remove("invalid");
    if (confirmed) { confirmed = false; go.textContent = "Continue"; result.hidden = true; }
  };
  pick.addEventListener("change", () => { if (pick.value) other.value = pick.value; changed(); });
  other.addEventListener("input", changed);
  role.addEventListener("change", changed);
  cancel.addEventListener("click", () => dlg.close());
  dlg.addEventListener("close", () => dlg.remove());
  go.addEventListener("click", async () => {
    if (!other.value.trim()) { other.focus(); show(result, false, "Choose the other request."); return; }
    if (!reason.value.trim()) { reason.focus(); show(result, false, "A reason is required."); return; }
    const s = sides();
    if (!confirmed) {
      confirmed = true;
      go.textContent = "Confirm";
      show(result, true, `Validate: reference ${s.ref} → new ${s.new}. Press Confirm to start.`);
      return;
    }
    go.disabled = true;
    try {
      const answer = await api("validations", { method: "POST", body: { ...s, reason: reason.value.trim() } });
      show(result, true, `Done: validation #${answer.id} is ${answer.status}; its progress shows in the Validations panel.`);
      go.hidden = true;
      cancel.textContent = "Close";
      onStarted(answer);
    } catch (err) {
      // The server names the field at fault (ref or new): mark the input that holds the other request.
      const field = String(err.message).split(":")[0];
      if ((field === "ref" && s.ref !== name) || (field === "new" && s.new !== name)) other.classList.add("invalid");
      show(result, false, `Refused (${err.status || "error"}): ${err.message}`);
      go.disabled = false;
    }
  });
  document.body.appendChild(dlg);
  dlg.showModal();
  changed();
  loadCandidates(name, pick, note).catch((err) => {
    fill(pick, h("option", { value: "" }, "(the list is unavailable: type a name)"));
    note.textContent = `Cannot list the requests with outputs: ${err.message}`;
  });
  return dlg;
}

async function loadCandidates(name, pick, note) {
  const data = await api(`validations/candidates?request=${encodeURIComponent(name)}`);
  const n = data.items.length;
  fill(pick, h("option", { value: "" }, n ? `— ${n} request${n === 1 ? "" : "s"} with registered outputs —`
    : "(no other request has registered outputs)"),
  data.items.map((c) => h("option", { value: c.name },
    `${c.name} · ${c.status} · ${c.tiers.join(", ")} · ${num(c.files)} files${c.campaign ? ` · ${c.campaign}` : ""}`)));
  note.className = data.request ? "muted" : "warn";
  note.textContent = data.request
    ? `This request: ${num(data.request.files)} registered output files (${data.request.tiers.join(", ")}).`
    : "This request has no registered output file yet: the server will refuse to validate it.";
}

function show(el, ok, text) { el.hidden = false; el.className = `result ${ok ? "ok" : "err"}`; el.textContent = text; }
