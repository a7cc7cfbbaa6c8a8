"""The self-contained HTML report: summary, tables, one overlay plot per branch (worst first).

No script at all; the one ``<style>`` block is allowed by its hash (:data:`REPORT_CSP`), and the plots
are PNG ``data:`` URIs, so the page works offline and under a strict Content-Security-Policy.
"""

from __future__ import annotations

import base64
import hashlib
from html import escape

from wms2.validation.model import BranchResult, ValidationResult

STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;font-size:.85em}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}
.identical{background:#d8f0d8}.compatible{background:#eef6d8}.different{background:#f8d0d0}
.verdict{display:inline-block;padding:.2em .8em;border-radius:.3em;font-weight:bold}
figure{display:inline-block;margin:.6em;vertical-align:top}figcaption{font-size:.8em;max-width:32em}
"""
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
#: The Content-Security-Policy the report needs (and all it needs) when served.
REPORT_CSP = (f"default-src 'none'; img-src data:; style-src 'sha256-{_STYLE_HASH}'; base-uri 'none'; "
              "form-action 'none'; frame-ancestors 'self'")


def _num(value: float | None, fmt: str = ".3g") -> str:
    return "&ndash;" if value is None else format(value, fmt)


def _branch_row(i: int, b: BranchResult) -> str:
    cells = [
        f'<a href="#b{i}">{escape(b.name)}</a>', escape(b.tree), escape(b.group),
        f'<span class="{b.verdict}">{b.verdict}</span>', _num(b.ks_p), _num(b.chi2_p),
        _num(b.mean_z, "+.2f"), _num(b.width_z, "+.2f"),
        escape("; ".join(b.problems)),
    ]
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def _figure(i: int, b: BranchResult) -> str:
    from wms2.validation.plots import overlay_png  # matplotlib only when a report is drawn

    png = overlay_png(b)
    caption = escape(f"{b.group} / {b.tree} / {b.name}: {b.verdict}" + (f" ({'; '.join(b.problems)})"
                                                                       if b.problems else ""))
    if png is None:
        return f'<figure id="b{i}"><figcaption>{caption}</figcaption></figure>'
    data = base64.b64encode(png).decode()
    return (f'<figure id="b{i}"><img alt="{escape(b.name)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{caption}</figcaption></figure>")


def render_html(result: ValidationResult, max_plots: int) -> str:
    """The report page (UTF-8 text)."""
    counts = ", ".join(f"{n} {v}" for v, n in result.counts.items())
    trees = "".join(
        f"<tr><td>{escape(t.group)}</td><td>{escape(t.name)}</td><td class=\"{t.verdict}\">{t.verdict}</td>"
        f"<td>{_num(t.ref_entries, 'd')}</td><td>{_num(t.new_entries, 'd')}</td>"
        f"<td>{escape('; '.join(t.problems))}</td><td>{escape(', '.join(t.skipped))}</td></tr>"
        for t in result.trees)
    rows = "".join(_branch_row(i, b) for i, b in enumerate(result.branches))
    figures = "".join(_figure(i, b) for i, b in enumerate(result.branches[:max_plots]))
    th = result.thresholds
    res = result.resources
    resources = (f"{res.files} files, {res.bytes / 1e6:.1f} MB in {res.seconds:.1f} s "
                 f"({res.bytes_per_second / 1e6:.1f} MB/s, {res.workers} workers, peak RSS "
                 f"{res.parent_peak_rss_mb:.0f} MB + {res.worker_peak_rss_mb:.0f} MB per worker)") if res else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Validation {escape(result.ref)} vs {escape(result.new)}</title>
<style>{STYLE}</style></head><body>
<h1>Physics validation: <span class="verdict {result.verdict}">{result.verdict}</span></h1>
<p>reference <b>{escape(result.ref)}</b> &mdash; new <b>{escape(result.new)}</b></p>
<p>branches: {escape(counts)}. Thresholds: KS p &lt; {th.ks_p_min:g} or chi2 p &lt; {th.chi2_p_min:g} or a pull
above {th.z_max:g} sigma (mean, width, counts, NaN/inf fraction) is <i>different</i>; bit-identical histograms
and moments are <i>identical</i>.</p>
<p>Method: {escape(result.method)}. {escape(resources)}</p>
<h2>Trees</h2>
<table><tr><th>group</th><th>tree</th><th>verdict</th><th>ref entries</th><th>new entries</th><th>problems</th>
<th>not compared</th></tr>{trees}</table>
<h2>Branches (worst first)</h2>
<table><tr><th>branch</th><th>tree</th><th>group</th><th>verdict</th><th>KS p</th><th>chi2 p</th><th>mean pull</th>
<th>width pull</th><th>problems</th></tr>{rows}</table>
<h2>Plots</h2>
{figures}
</body></html>
"""
