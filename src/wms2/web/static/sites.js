// Sites: slots, status (drain / enable), bans in force (who, why, expiry), lift and ban from the page.
import { actionDialog, api, badge, can, fill, h, num, table, when } from "./lib.js";

export function sitesPage(app) {
  const sites = h("div", { id: "sites" });
  const bans = h("div", { id: "bans" });
  const banButton = can("operator") ? h("button", { class: "btn primary", type: "button", "data-action": "ban", onclick: () => banDialog() }, "Ban a site") : null;
  fill(app, h("div", { class: "toolbar" }, h("h1", {}, "Sites"), h("span", { class: "spacer" }), banButton),
    h("section", { class: "panel" }, h("h2", {}, "Sites"), sites),
    h("section", { class: "panel" }, h("h2", {}, "Bans in force"), bans));

  async function refresh() {
    const [s, b] = await Promise.all([api("sites?limit=1000"), api("sites/bans?limit=1000")]);
    fill(sites, table(["Site", "Tier ", "Status", "Slots ", "Bans ", "Changed by", ""], s.items.map((x) => h("tr", { "data-site": x.name },
      h("td", {}, x.name), h("td", { class: "num" }, x.tier ?? "–"), h("td", {}, badge(x.status)), h("td", { class: "num" }, num(x.total_slots)),
      h("td", { class: "num" }, x.active_bans), h("td", { class: "name" }, x.updated_by ? `${x.updated_by}: ${x.reason || ""}` : "–"),
      h("td", {}, can("operator") ? siteButtons(x) : null)))));
    fill(bans, b.items.length ? table(["Site", "Scope", "Why", "Who", "Since", "Expires", ""], b.items.map((x) => h("tr", { "data-ban": x.id },
      h("td", {}, x.site), h("td", {}, x.workflow_id ? `workflow ${x.workflow_id}` : "everywhere"), h("td", { class: "name" }, x.reason),
      h("td", {}, (x.failure_data && x.failure_data.banned_by) || "WMS2 (failures)"), h("td", {}, when(x.created_at)), h("td", {}, when(x.expires_at)),
      h("td", {}, can("operator") ? h("button", { class: "btn small", type: "button", "data-action": "lift", onclick: () => actionDialog({
        title: `Lift ban ${x.id} on ${x.site}`, submit: (reason) => api(`sites/bans/${x.id}/lift`, { method: "POST", body: { reason } }), onDone: () => refresh() }) }, "Lift") : null)))) :
      h("p", { class: "muted" }, "No ban in force."));
  }

  function siteButtons(x) {
    const verb = x.status === "draining" || x.status === "disabled" ? "enable" : "drain";
    return h("button", { class: "btn small", type: "button", "data-action": verb, onclick: () => actionDialog({
      title: `${verb === "drain" ? "Drain" : "Enable"} ${x.name}`, submit: (reason) => api(`sites/${encodeURIComponent(x.name)}/${verb}`, { method: "POST", body: { reason } }),
      onDone: () => refresh() }) }, verb === "drain" ? "Drain" : "Enable");
  }

  function banDialog() {
    actionDialog({ title: "Ban a site", explain: "Landing nodes of later DAGs and rescues exclude the site.",
      fields: [{ name: "site", label: "Site (e.g. T2_CH_CERN)" }, { name: "days", label: "Days", type: "number", min: 1, value: 7 },
        { name: "request", label: "Only for request (empty: everywhere)" }],
      submit: (reason, v) => api("sites/bans", { method: "POST", body: { reason, ...v } }), onDone: () => refresh() });
  }

  return { refresh };
}
