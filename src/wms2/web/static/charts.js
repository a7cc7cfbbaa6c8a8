// Chart.js (packaged: /static/chart.umd.min.js, see VENDOR.md) wrappers that update in place on refresh.
const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#9333ea", "#0891b2", "#db2777", "#65a30d", "#475569"];

const charts = new WeakMap();

export function chart(canvas, type, labels, datasets, options = {}) {
  const Chart = window.Chart;
  if (!Chart) return null;
  const data = { labels, datasets: datasets.map((d, i) => ({
    borderColor: type === "line" ? PALETTE[i % PALETTE.length] : undefined,
    backgroundColor: type === "doughnut" ? labels.map((_, j) => PALETTE[j % PALETTE.length]) : PALETTE[i % PALETTE.length],
    tension: 0, pointRadius: 3, ...d,
  })) };
  let c = charts.get(canvas);
  if (c && c.config.type === type) {
    c.data = data;
    c.update("none");
    return c;
  }
  if (c) c.destroy();
  c = new Chart(canvas, {
    type, data,
    options: {
      responsive: true, maintainAspectRatio: false, animation: false,
      plugins: { legend: { display: type === "doughnut" || datasets.length > 1, position: "bottom" } },
      ...options,
    },
  });
  charts.set(canvas, c);
  canvas.dataset.drawn = String(labels.length);
  return c;
}
