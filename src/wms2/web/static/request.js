// Request page: header and actions, progress, alerts, rounds (table + charts), current DAG, errors (charts
// and log tails), outputs (blocks), audit trail, validations, the spec (collapsed).
import { actionDialog, api, ApiError, badge, bar, can, duration, fill, h, num, pct, route, session, table, when } from "./lib.js";
import { chart } from "./charts.js";
import { validationsPanel } from "./validate.js";

const TERMINAL = ["completed", "failed", "aborted"];
const ERRORS_EVERY = 5;
// The statuses wms2.core.operator accepts for each action (the server still decides: a refusal is shown).
const FAILABLE = ["held", "queued", "active", "partial", "stopping", "resubmitting", "planning"];
const RESTARTABLE = ["held", "active", "partial", "queued", "stopping", "failed", "completed"];

export function requestPage(app, name) {
  const head = h("div", { class: "toolbar" });
  const actions = h("div", { class: "actions", id: "actions" });
  const summary = h("div", { id: "summary" });
  const alerts = h("div", { id: "request-alerts" });
  const rounds = h("div", { id: "rounds" });
  const roundCharts = h("div", { class: "charts" });
  const canvases = Object.fromEntries(["memory", "cores", "events", "cpu", "throughput"].map((k) => [k, h("canvas", { id: `chart-${k}` })]));
  const dag = h("div", { id: "current-dag" });
  const errors = h("div", { id: "errors" });
  const errCanvases = Object.fromEntries(["category", "site", "exit", "time"].map((k) => [k, h("canvas", { id: `chart-err-${k}` })]));
  const samples = h("div", { id: "log-samples" });
  const blocks = h("div", { id: "blocks" });
  const audit = h("div", { id: "audit" });
  const validations = h("div", { id: "validations" });
  const spec = h("pre", { id: "spec" });
  const titled = (title, cv) => h("div", {}, h("div", { class: "muted" }, title), h("div", { class: "chart" }, cv));
  fill(roundCharts, titled("Memory (MB): requested vs peak RSS", canvases.memory), titled("Cores per job", canvases.cores),
    titled("Events per job", canvases.events), titled("CPU efficiency (step 1, median)", canvases.cpu),
    titled("Throughput (events / hour)", canvases.throughput));
  fill(app, head, actions,
    h("div", { class: "grid cols-2" },
      h("section", { class: "panel" }, h("h2", {}, "Progress"), summary, alerts),
      h("section", { class: "panel" }, h("h2", {}, "Current DAG"), dag)),
    h("section", { class: "panel" }, h("h2", {}, "Rounds"), rounds, roundCharts),
    h("section", { class: "panel" }, h("h2", {}, "Errors"), errors,
      h("div", { class: "charts" }, titled("Failures by category", errCanvases.category), titled("Failures by site", errCanvases.site),
        titled("Failures by exit code", errCanvases.exit), titled("Failures over time", errCanvases.time)), samples),
    h("div", { class: "grid cols-2" },
      h("section", { class: "panel" }, h("h2", {}, "Outputs: blocks"), blocks),
      h("section", { class: "panel" }, h("h2", {}, "Validations"), validations)),
    h("section", { class: "panel" }, h("h2", {}, "Audit trail"), audit),
    h("section", { class: "panel" }, h("details", {}, h("summary", {}, "Request specification"), spec)));
  const validationsCtl = validationsPanel(validations, name);
  let lastActionsKey = null;
  let ticks = 0;

  async function refresh() {
    const enc = encodeURIComponent(name);
    let req;
    try { req = await api(`requests/${enc}`); } catch (err) {
      if (err.status === 404) { fill(app, h("p", { class: "error" }, `No request named ${name}.`)); return; }
      throw err;
    }
    const wf = req.workflow;
    // The errors summary reads every POST side file of the request: refreshed every ERRORS_EVERY ticks only.
    const readErrors = wf && ticks % ERRORS_EVERY === 0;
    ticks += 1;
    const [progress, errs, timeline] = await Promise.all([
      wf ? api(`workflows/${wf.id}/status`) : null,
      readErrors ? api(`requests/${enc}/errors`).catch((e) => (e instanceof ApiError && e.status === 409 ? null : Promise.reject(e))) : undefined,
      readErrors ? api(`dashboard/requests/${enc}/errors-over-time`) : undefined,
    ]);
    fill(head, h("h1", { id: "request-name" }, req.name), badge(req.status), h("span", { class: "muted" },
      `${req.request_type} · priority ${num(req.priority)}${req.urgent ? " · urgent" : ""} · ${req.requestor}`));
    drawActions(req);
    drawSummary(req, progress);
    fill(alerts, req.alerts.slice(-5).reverse().map((a) => h("div", { class: "alert" }, h("strong", {}, a.kind), " ", a.reason, h("div", { class: "muted" }, when(a.at)))));
    drawRounds(req.rounds);
    drawDag(req, progress);
    if (errs !== undefined) drawErrors(errs, timeline);
    drawBlocks(req.blocks);
    fill(audit, table(["At", "From", "To", "By", "Reason"], req.status_transitions.slice().reverse().map((t) => h("tr", {},
      h("td", {}, when(t.at)), h("td", {}, t.from ? badge(t.from) : "–"), h("td", {}, badge(t.to)), h("td", { class: "who-cell" }, t.by), h("td", { class: "name" }, t.reason)))));
    if (!spec.textContent) spec.textContent = JSON.stringify(req.spec, null, 2);
    await validationsCtl.refresh();
  }

  function drawSummary(req, progress) {
    const items = [];
    if (progress) {
      items.push(bar(progress.progress_percent, `${progress.progress_percent.toFixed(1)}% done`));
      items.push(h("dl", { class: "kv" },
        h("dt", {}, "Round"), h("dd", {}, req.workflow.current_round),
        h("dt", {}, "Throughput"), h("dd", {}, progress.throughput_per_hour ? `${progress.throughput_per_hour.toFixed(1)} % / hour` : "–"),
        h("dt", {}, "ETA"), h("dd", {}, progress.eta_seconds === null ? "–" : `${duration(progress.eta_seconds)} (${when(progress.eta)})`),
        h("dt", {}, "Events produced"), h("dd", {}, num(req.workflow.events_produced)),
        h("dt", {}, "Campaign"), h("dd", {}, req.campaign || "–"),
        h("dt", {}, "Input"), h("dd", {}, req.input_dataset || "generation"),
        h("dt", {}, "Outputs"), h("dd", {}, req.output_datasets.join(", ") || "–"),
        h("dt", {}, "Versions"), h("dd", {}, `v${req.processing_version}`, req.previous_version_request ? [" · previous ", h("a", { href: route("request", req.previous_version_request) }, req.previous_version_request)] : null,
          req.superseded_by_request ? [" · superseded by ", h("a", { href: route("request", req.superseded_by_request) }, req.superseded_by_request)] : null)));
    } else {
      items.push(h("p", { class: "muted" }, `No workflow yet (${req.status}).`));
    }
    fill(summary, items);
  }

  function drawRounds(list) {
    if (!list.length) { fill(rounds, h("p", { class: "muted" }, "No round planned yet.")); return; }
    fill(rounds, table(["Round ", "DAG", "Status", "WUs ", "Memory MB ", "Cores ", "Events/job ", "Peak RSS MB ", "CPU eff. ", "Events/h "],
      list.map((r) => h("tr", {}, h("td", { class: "num" }, r.round), h("td", {}, h("a", { href: route("dag", r.dag_id) }, `#${r.dag_id}`), r.parent_dag_id ? " (rescue)" : ""),
        h("td", {}, badge(r.status)), h("td", { class: "num" }, `${r.work_units_done}/${r.work_units}`),
        h("td", { class: "num" }, num(r.params.request_memory_mb)), h("td", { class: "num" }, num(r.params.request_cpus)),
        h("td", { class: "num" }, num(r.params.events_per_job)), h("td", { class: "num" }, num(r.metrics.peak_rss_mb)),
        h("td", { class: "num" }, r.metrics.cpu_efficiency === undefined ? "–" : pct(r.metrics.cpu_efficiency)),
        h("td", { class: "num" }, num(throughput(r)))))));
    const labels = list.map((r) => `R${r.round} #${r.dag_id}`);
    const val = (f) => list.map((r) => { const v = f(r); return v === undefined || v === null ? null : v; });
    chart(canvases.memory, "line", labels, [{ label: "requested", data: val((r) => r.params.request_memory_mb) }, { label: "peak RSS", data: val((r) => r.metrics.peak_rss_mb) }]);
    chart(canvases.cores, "line", labels, [{ label: "cores", data: val((r) => r.params.request_cpus), stepped: true }], { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } });
    chart(canvases.events, "line", labels, [{ label: "events/job", data: val((r) => r.params.events_per_job) }]);
    chart(canvases.cpu, "line", labels, [{ label: "CPU efficiency", data: val((r) => r.metrics.cpu_efficiency) }], { scales: { y: { min: 0, max: 1 } } });
    chart(canvases.throughput, "bar", labels, [{ label: "events/hour", data: val(throughput) }]);
  }

  function throughput(r) {
    const events = r.metrics.events_registered;
    if (!events || !r.submitted_at || !r.completed_at) return null;
    const hours = (new Date(r.completed_at) - new Date(r.submitted_at)) / 3.6e6;
    return hours > 0 ? Math.round(events / hours) : null;
  }

  function drawDag(req, progress) {
    const cur = progress && progress.current_dag;
    if (!cur) { fill(dag, h("p", { class: "muted" }, "No DAG.")); return; }
    const c = cur.node_counters || {};
    const dagActions = [];
    if (can("operator") && req.status === "active" && ["submitted", "running"].includes(cur.status)) dagActions.push(actButton("Hold DAG", "hold-dag", () => dagAction(cur.dag_id, "hold", "Hold the DAGMan job")));
    if (can("operator") && cur.status === "halted") dagActions.push(actButton("Release DAG", "release-dag", () => dagAction(cur.dag_id, "release", "Release the DAGMan job")));
    fill(dag, h("p", {}, h("a", { href: route("dag", cur.dag_id), id: "open-dag" }, `DAG #${cur.dag_id}`), ` · round ${cur.round} · `, badge(cur.status)),
      bar(cur.work_units ? 100 * cur.work_units_done / cur.work_units : 0, `${cur.work_units_done} / ${cur.work_units} work units`),
      h("dl", { class: "kv" }, ["done", "running", "idle", "failed", "held"].map((k) => [h("dt", {}, `nodes ${k}`), h("dd", {}, num(c[k] || 0))])),
      dagActions.length ? h("div", { class: "actions" }, dagActions) : null);
  }

  function drawErrors(errs, timeline) {
    if (!errs) { fill(errors, h("p", { class: "muted" }, "No errors summary (no workflow yet).")); fill(samples); return; }
    fill(errors, h("p", {}, `${num(errs.failures)} final node failures`, errs.bad_input_files.length ? ` · ${errs.bad_input_files.length} bad input files` : "",
      errs.site_bans.length ? ` · ${errs.site_bans.length} site bans` : ""));
    const pie = (cv, obj) => chart(cv, "doughnut", Object.keys(obj), [{ data: Object.values(obj) }]);
    pie(errCanvases.category, errs.by_category);
    chart(errCanvases.site, "bar", Object.keys(errs.by_site), [{ label: "failures", data: Object.values(errs.by_site) }]);
    chart(errCanvases.exit, "bar", Object.keys(errs.by_exit_code), [{ label: "failures", data: Object.values(errs.by_exit_code) }]);
    const b = (timeline && timeline.buckets) || [];
    chart(errCanvases.time, "bar", b.map((x) => when(x.at).slice(5, 16)), [{ label: "failures", data: b.map((x) => x.failures), barPercentage: 1, categoryPercentage: 1 }]);
    fill(samples, errs.samples.length ? [h("h2", {}, "Failing nodes (log tails)"), errs.samples.map((s) => h("details", { class: "sample" },
      h("summary", {}, `round ${s.round} · ${s.work_unit}/${s.node} · attempt ${s.attempt} · ${s.site || "?"} · exit ${s.exit_code} · ${s.category}`),
      h("p", {}, s.message), h("pre", { class: "log-tail" }, s.log_tail.join("\n"))))] : []);
  }

  function drawBlocks(list) {
    fill(blocks, list.length ? table(["Round ", "Dataset", "Status", "WUs ", "Catalog block"], list.map((b) => h("tr", {},
      h("td", { class: "num" }, b.round), h("td", { class: "name" }, b.dataset), h("td", {}, badge(b.status)),
      h("td", { class: "num" }, `${b.work_units_done}/${b.work_units}`), h("td", { class: "name" }, b.catalog_block || "–")))) : h("p", { class: "muted" }, "No output block yet."));
  }

  function actButton(label, id, onclick, danger = false) {
    return h("button", { class: `btn${danger ? " danger" : ""}`, type: "button", "data-action": id, onclick }, label);
  }

  function reload() { refresh().catch(() => {}); }

  function post(path, body, method = "POST") { return api(path, { method, body }); }

  function dagAction(id, verb, title) {
    actionDialog({ title, submit: (reason) => post(`dags/${id}/${verb}`, { reason }), onDone: reload });
  }

  function drawActions(req) {
    const owner = req.requestor === session.name;
    const key = `${req.status}|${session.role}|${owner}|${req.superseded_by_request}`;
    if (key === lastActionsKey) return;
    lastActionsKey = key;
    const enc = encodeURIComponent(req.name);
    const live = !TERMINAL.includes(req.status);
    const list = [];
    if (can("operator")) {
      if (req.status === "active") list.push(actButton("Stop", "stop", () => actionDialog({ title: `Stop ${req.name}`, explain: "Clean stop: DAGMan writes a rescue DAG; the request resumes from it.", submit: (reason) => post(`requests/${enc}/stop`, { reason }), onDone: reload })));
      if (req.status === "held") list.push(actButton("Release", "release", () => actionDialog({
        title: `Release ${req.name}`, explain: "Back to the queue; completed work units are credited. Overrides are optional.",
        fields: [{ name: "memory_mb", label: "Memory override (MB)", type: "number", min: 1 }, { name: "max_retries", label: "Max retries", type: "number", min: 0 },
          { name: "site_bans", label: "Ban sites (comma separated)", list: true }],
        submit: (reason, v) => post(`requests/${enc}/release`, { reason, ...v }), onDone: reload })));
      if (FAILABLE.includes(req.status)) list.push(actButton("Fail", "fail", () => actionDialog({ title: `Fail ${req.name}`, danger: true, explain: "Terminal: removes any DAG, marks open blocks failed.", submit: (reason) => post(`requests/${enc}/fail`, { reason }), onDone: reload }), true));
      if (RESTARTABLE.includes(req.status) && !req.superseded_by_request) list.push(actButton("Restart", "restart", () => actionDialog({
        title: `Restart ${req.name}`, danger: true, explain: "Catastrophic recovery: a new processing version; this one fails.",
        fields: [{ name: "cleanup_policy", label: "Cleanup policy", options: ["keep_until_replaced", "immediate_cleanup"] }],
        submit: (reason, v) => post(`requests/${enc}/restart`, { reason, ...v }), onDone: (a) => { window.location.hash = route("request", a.new_request); } }), true));
    }
    if (live && (can("operator") || (can("requestor") && owner))) {
      list.push(actButton("Priority", "priority", () => actionDialog({ title: `Priority of ${req.name}`, fields: [{ name: "priority", label: "New priority", type: "number", min: 0, value: req.priority }],
        submit: (reason, v) => post(`requests/${enc}`, { reason, ...v }, "PATCH"), onDone: reload })));
      if (req.status !== "planning") list.push(actButton("Abort", "abort", () => actionDialog({ title: `Abort ${req.name}`, danger: true,
        submit: (reason) => api(`requests/${enc}?reason=${encodeURIComponent(reason)}`, { method: "DELETE" }), onDone: reload }), true));
    }
    fill(actions, list);
  }

  return { refresh };
}
