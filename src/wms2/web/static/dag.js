// DAG view: every work unit (merge group) as one cell of a grid coloured by its DAGMan state; a cell opens
// the WU's nodes (landing, processing, merge, cleanup) read live from DAGMan's files, and its log tail.
import { api, badge, bar, fill, h, num, route, table, when } from "./lib.js";

const STATES = { 0: "not ready", 1: "ready", 2: "pre", 3: "submitted", 4: "post", 5: "done", 6: "error", 7: "futile" };
const FILTERS = [["all", null], ["running", [2, 3, 4]], ["waiting", [0, 1]], ["done", [5]], ["failed", [6, 7]], ["retried", "retried"]];

export function dagPage(app, dagId, initialWu) {
  const head = h("div", { class: "toolbar" });
  const info = h("div", { id: "dag-info" });
  const legend = h("div", { class: "legend" });
  const filters = h("div", { class: "toolbar", id: "wu-filters" });
  const grid = h("div", { class: "wu-grid", id: "wu-grid", role: "grid" });
  const detail = h("div", { id: "wu-detail" }, h("p", { class: "muted" }, "Pick a work unit to see its nodes."));
  const cells = new Map(); // node -> button (kept between refreshes: only classes change)
  let filter = null;
  let picked = initialWu || null;
  fill(app, head, h("div", { class: "split" },
    h("section", { class: "panel" }, h("h2", {}, "Work units"), info, legend, filters, grid),
    h("section", { class: "panel" }, h("h2", {}, "Work unit"), detail)));
  fill(legend, Object.entries({ 1: "waiting", 3: "running", 5: "done", 6: "failed", 7: "futile" }).map(([code, label]) => h("span", {}, h("i", { class: `wu st-${code}` }), label)),
    h("span", {}, h("i", { class: "wu retried" }), "retried"));
  fill(filters, FILTERS.map(([label, f]) => h("button", { class: "btn small", type: "button", "data-filter": label, onclick: () => { filter = f; applyFilter(); } }, label)));

  async function refresh() {
    const g = await api(`dashboard/dags/${dagId}/grid`);
    fill(head, h("h1", {}, `DAG #${g.dag_id}`), badge(g.status), g.request ? h("a", { href: route("request", g.request) }, g.request) : null,
      h("span", { class: "muted" }, `round ${g.round}${g.current ? " · current" : ""}`));
    const counts = g.counts || {};
    fill(info, bar(g.total_work_units ? 100 * g.completed_work_units / g.total_work_units : 0, `${num(g.completed_work_units)} / ${num(g.total_work_units)} work units complete`),
      h("p", { class: "muted" }, g.available ? `DAGMan: ${g.dag_status} · ${Object.entries(counts).map(([k, v]) => `${k} ${num(v)}`).join(" · ")}` : "DAGMan has not written its node status file yet."));
    drawGrid(g.work_units);
    if (picked && !detail.dataset.wu) openWu(picked);
    else if (picked) openWu(picked, true);
  }

  function drawGrid(units) {
    const seen = new Set();
    const frag = document.createDocumentFragment();
    for (const u of units) {
      seen.add(u.node);
      let cell = cells.get(u.node);
      if (!cell) {
        cell = h("button", { class: "wu", type: "button", "data-wu": u.node, title: u.node, onclick: () => openWu(u.node) });
        cells.set(u.node, cell);
        frag.appendChild(cell);
      }
      const cls = `wu st-${u.status}${u.retries ? " retried" : ""}${u.node === picked ? " picked" : ""}`;
      if (cell.className !== cls) { cell.className = cls; cell.title = `${u.node}: ${STATES[u.status] || u.status}${u.retries ? `, ${u.retries} retries` : ""}`; }
      cell.dataset.state = String(u.status);
      cell.dataset.retries = String(u.retries);
    }
    grid.appendChild(frag);
    for (const [node, cell] of cells) if (!seen.has(node)) { cell.remove(); cells.delete(node); }
    applyFilter();
  }

  function applyFilter() {
    for (const cell of cells.values()) {
      const st = Number(cell.dataset.state);
      cell.hidden = filter === "retried" ? cell.dataset.retries === "0" : Array.isArray(filter) ? !filter.includes(st) : false;
    }
  }

  async function openWu(node, quiet = false) {
    if (picked && cells.get(picked)) cells.get(picked).classList.remove("picked");
    picked = node;
    if (cells.get(node)) cells.get(node).classList.add("picked");
    if (!quiet) fill(detail, h("p", { class: "muted" }, `Reading ${node}…`));
    const data = await api(`dags/${dagId}/nodes?work_unit=${encodeURIComponent(node)}`);
    const wu = data.work_units[0];
    detail.dataset.wu = node;
    if (!wu) { fill(detail, h("p", { class: "muted" }, `${node} is not in DAGMan's status file yet.`)); return; }
    const logBox = h("div", {});
    fill(detail, h("p", {}, h("strong", { id: "wu-name" }, wu.node), " ", badge(wu.status), ` · site ${wu.site || "not elected yet"}`, wu.exit_code !== null ? ` · last exit ${wu.exit_code}` : ""),
      wu.nodes.length ? table(["Node", "Role", "Status", "Retries ", "Site", "Exit ", "Details"], wu.nodes.map((n) => h("tr", { "data-node": n.node },
        h("td", {}, n.node), h("td", {}, n.role), h("td", {}, badge(n.status)), h("td", { class: "num" }, n.retries),
        h("td", {}, n.site || "–"), h("td", { class: "num" }, n.exit_code ?? "–"), h("td", { class: "name" }, n.details || "")))) : h("p", { class: "muted" }, "The sub-DAG has not started (no group.dag.status yet)."),
      h("p", {}, h("button", { class: "btn small", type: "button", "data-action": "wu-log", onclick: async () => {
        const log = await api(`dags/${dagId}/logs?work_unit=${encodeURIComponent(node)}&lines=80`);
        fill(logBox, log.available ? h("pre", { class: "log-tail" }, log.lines.join("\n")) : h("p", { class: "muted" }, "No DAGMan log for this work unit yet."));
      } }, "DAGMan log tail")), logBox, h("p", { class: "muted" }, `read ${when(new Date().toISOString())}`));
  }

  return { refresh };
}
