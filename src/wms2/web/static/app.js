// WMS2 dashboard: hash router, session, live refresh (short polling of cheap, cached endpoints).
import { api, fill, h, session, toast } from "./lib.js";
import { overviewPage } from "./overview.js";
import { requestPage } from "./request.js";
import { dagPage } from "./dag.js";
import { sitesPage } from "./sites.js";

const app = document.getElementById("app");
let current = null; // { refresh(), key }
let timer = null;

function parseRoute() {
  const parts = window.location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "request" && parts[1]) return { key: `r:${parts[1]}`, make: () => requestPage(app, parts[1]), nav: "overview" };
  if (parts[0] === "dag" && parts[1]) return { key: `d:${parts[1]}`, make: () => dagPage(app, Number(parts[1]), parts[2]), nav: "overview" };
  if (parts[0] === "sites") return { key: "sites", make: () => sitesPage(app), nav: "sites" };
  return { key: "overview", make: () => overviewPage(app), nav: "overview" };
}

async function tick() {
  clearTimeout(timer);
  const live = document.getElementById("live");
  if (current && !document.hidden) {
    try {
      await current.refresh();
      live.classList.remove("stale");
      live.textContent = "live";
    } catch (err) {
      live.classList.add("stale");
      live.textContent = `stale: ${err.message}`;
    }
  }
  timer = setTimeout(tick, session.poll * 1000);
}

function navigate() {
  const r = parseRoute();
  for (const a of document.querySelectorAll("[data-nav]")) a.classList.toggle("active", a.dataset.nav === r.nav);
  fill(app, h("p", { class: "muted" }, "Loading…"));
  current = r.make();
  tick();
}

async function start() {
  const me = await api("/ui/session");
  Object.assign(session, { name: me.name, role: me.role, csrf: me.csrf, poll: me.poll_seconds });
  fill(document.getElementById("who"), me.name, h("span", { class: "role", "data-role-badge": me.role }, me.role));
  document.getElementById("logout").addEventListener("click", async () => {
    try { await api("/logout", { method: "POST" }); } catch (err) { toast(err.message); }
    window.location.assign("/login");
  });
  document.addEventListener("visibilitychange", () => { if (!document.hidden) tick(); });
  window.addEventListener("hashchange", navigate);
  navigate();
}

start().catch((err) => fill(app, h("p", { class: "error" }, `Cannot start: ${err.message}`)));
