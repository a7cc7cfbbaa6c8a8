// Overview: requests by status (filters, search), request rows with progress, admission queue, live DAGs,
// alerts and stuck requests with their reasons.
import { api, badge, bar, duration, fill, h, num, pct, route, table, when } from "./lib.js";

const PAGE = 50;
const STATUSES = ["new", "submitted", "queued", "planning", "active", "held", "stopping", "resubmitting",
  "completed", "partial", "failed", "aborted"];

export function overviewPage(app) {
  const state = { status: null, q: "", offset: 0 };
  const cards = h("div", { class: "cards", id: "status-cards" });
  const search = h("input", { type: "search", id: "search", placeholder: "search name, campaign or requestor", maxlength: 200 });
  const rows = h("div", { id: "request-rows" });
  const pager = h("div", { class: "pager" });
  const queue = h("div", { id: "queue" });
  const dags = h("div", { id: "live-dags" });
  const alerts = h("div", { id: "alerts" });
  const cycle = h("span", { class: "muted", id: "cycle" });
  let debounce = null;
  search.addEventListener("input", () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => { state.q = search.value.trim(); state.offset = 0; refresh(); }, 250);
  });
  fill(app,
    h("div", { class: "toolbar" }, h("h1", {}, "Requests"), h("span", { class: "spacer" }), cycle),
    cards,
    h("div", { class: "grid cols-3" },
      h("section", { class: "panel" }, h("h2", {}, "Alerts and stuck requests"), alerts),
      h("section", { class: "panel" }, h("h2", {}, "Admission queue"), queue),
      h("section", { class: "panel" }, h("h2", {}, "Active DAGs"), dags)),
    h("section", { class: "panel" }, h("div", { class: "toolbar" }, search), rows, pager));

  async function refresh() {
    const params = new URLSearchParams({ limit: PAGE, offset: state.offset });
    if (state.status) params.set("status", state.status);
    if (state.q) params.set("q", state.q);
    const [ov, page] = await Promise.all([api("dashboard/overview"), api(`dashboard/requests?${params}`)]);
    drawCards(ov);
    drawRows(page);
    drawQueue(ov.queue);
    drawDags(ov.live_dags);
    drawAlerts(ov.alerts);
    fill(cycle, ov.last_cycle ? `last lifecycle cycle ${when(ov.last_cycle.started_at)} (${ov.last_cycle.duration_s.toFixed(2)} s, ${ov.last_cycle.errors} errors)` : "no lifecycle cycle yet");
  }

  function drawCards(ov) {
    const make = (status, n, label) => h("button", {
      class: `card${state.status === status ? " selected" : ""}`, type: "button", "data-status": status || "all",
      onclick: () => { state.status = status; state.offset = 0; refresh(); },
    }, h("span", { class: "n" }, num(n)), h("span", { class: "l" }, label));
    fill(cards, make(null, ov.total, "all"), STATUSES.filter((s) => ov.counts[s] || s === "active" || s === "held").map((s) => make(s, ov.counts[s] || 0, s)));
  }

  function drawRows(page) {
    if (!page.items.length) { fill(rows, h("p", { class: "muted" }, "No request matches.")); fill(pager); return; }
    fill(rows, table(["Request", "Status", "Progress", "Round", "WUs ", "Failure rate ", "ETA ", "Priority ", "Requestor", "Campaign"],
      page.items.map((r) => h("tr", { "data-request": r.name },
        h("td", { class: "name" }, h("a", { href: route("request", r.name) }, r.name),
          r.alert ? h("div", { class: "muted error" }, `⚠ ${r.alert.reason}`) : null),
        h("td", {}, badge(r.status)),
        h("td", {}, r.total ? bar(r.progress_percent, `${num(r.done)} / ${num(r.total)} ${r.unit}`) : h("span", { class: "muted" }, "–")),
        h("td", { class: "num" }, r.round ?? "–"),
        h("td", { class: "num" }, r.work_units ? `${r.work_units_done}/${r.work_units}` : "–"),
        h("td", { class: "num" }, pct(r.failure_rate)),
        h("td", { class: "num" }, duration(r.eta_seconds)),
        h("td", { class: "num" }, num(r.priority)),
        h("td", {}, r.requestor),
        h("td", {}, r.campaign || "–")))));
    const last = Math.min(page.offset + page.limit, page.total);
    fill(pager,
      h("button", { class: "btn small", type: "button", disabled: page.offset === 0, onclick: () => { state.offset = Math.max(0, state.offset - PAGE); refresh(); } }, "‹ Newer"),
      h("span", { class: "muted" }, `${num(page.offset + 1)}–${num(last)} of ${num(page.total)}`),
      h("button", { class: "btn small", type: "button", disabled: last >= page.total, onclick: () => { state.offset += PAGE; refresh(); } }, "Older ›"));
  }

  function drawQueue(q) {
    fill(queue, h("p", { class: "muted" }, `${num(q.queue_depth)} queued · ${num(q.active_dags)} of ${num(q.max_active_dags)} DAG slots in use`),
      q.items.length ? table(["#", "Request", "Priority ", "Waiting "], q.items.map((e) => h("tr", {},
        h("td", {}, e.position, e.urgent ? " ⚡" : ""), h("td", { class: "name" }, h("a", { href: route("request", e.name) }, e.name)),
        h("td", { class: "num" }, num(e.priority)), h("td", { class: "num" }, duration(e.waiting_seconds))))) : null);
  }

  function drawDags(list) {
    fill(dags, list.length ? table(["DAG", "Request", "Round ", "Work units"], list.map((d) => h("tr", {},
      h("td", {}, h("a", { href: route("dag", d.dag_id) }, `#${d.dag_id}`), " ", badge(d.status)),
      h("td", { class: "name" }, h("a", { href: route("request", d.request) }, d.request)),
      h("td", { class: "num" }, d.round),
      h("td", {}, bar(d.work_units ? 100 * d.work_units_done / d.work_units : 0, `${d.work_units_done}/${d.work_units}${d.nodes_failed ? ` · ${d.nodes_failed} failed` : ""}`))))) : h("p", { class: "muted" }, "No DAG running."));
  }

  function drawAlerts(list) {
    fill(alerts, list.length ? list.map((a) => h("div", { class: `alert${a.stuck ? " stuck" : ""}` },
      h("strong", {}, a.kind), " ", a.request ? h("a", { href: route("request", a.request) }, a.request) : null,
      h("div", {}, a.reason), h("div", { class: "muted" }, when(a.at)))) : h("p", { class: "muted" }, "No open alert."));
  }

  return { refresh };
}
