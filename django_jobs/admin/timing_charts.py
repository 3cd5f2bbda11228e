"""
The dashboard's pick-up latency and run time charts (``django_jobs.timings``):
per queue and per task, three bars each (latency p50 and p95, run time p95),
drawn to one scale per table as server-rendered SVG: no script, no CDN.
"""

from django.utils.translation import gettext as _

#: A bar's height and the gap under it, in SVG units.
BAR, GAP = 7, 2

#: The three figures of a row: (Timing attribute, CSS class, label).
FIGURES = (
    ("latency_p50", "djobs-latency-p50", "pick-up latency p50"),
    ("latency_p95", "djobs-latency-p95", "pick-up latency p95"),
    ("run_p95", "djobs-run-p95", "run time p95"),
)


def seconds_text(seconds):
    """A duration as an operator reads it: "4 ms", "1.3 s", "2.5 min", "1.2 h"; "-" for None."""
    if seconds is None:
        return "-"
    if seconds < 1:
        return _("%d ms") % round(seconds * 1000)
    if seconds < 60:
        return _("%.1f s") % seconds
    if seconds < 3600:
        return _("%.1f min") % (seconds / 60)
    return _("%.1f h") % (seconds / 3600)


def timing_chart(timings, *, width=240):
    """The rows of one table (a list of timings.Timing), each with its figures and the geometry of its bars."""
    peak = max((getattr(t, attr) or 0 for t in timings for attr, _css, _label in FIGURES), default=0)
    rows = []
    for t in timings:
        bars = []
        for i, (attr, css, label) in enumerate(FIGURES):
            value = getattr(t, attr)
            bars.append(
                {
                    "css": css,
                    "y": i * (BAR + GAP),
                    "width": round(width * value / peak, 2) if peak and value else 0,
                    "title": f"{_(label)}: {seconds_text(value)}",
                }
            )
        rows.append(
            {
                "name": t.name,
                "jobs": t.jobs,
                "figures": [seconds_text(getattr(t, attr)) for attr, _css, _label in FIGURES],
                "bars": bars,
            }
        )
    return {"width": width, "height": len(FIGURES) * (BAR + GAP) - GAP, "rows": rows, "peak": seconds_text(peak)}
