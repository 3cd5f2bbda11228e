"""The table of a pressure run (bench/pressure.py): one row per scenario and phase, the systems side by side."""

LABELS = {"ours": "django_jobs", "procrastinate": "procrastinate", "dtdb": "django-tasks-db"}
#: What issue 17 asks each pressure phase to keep: a share of the clean throughput, a p99 pick-up bound.
KEEP_SHARE = 0.8
P99_LIMIT_MS = 50.0


def num(v, digits=0):
    return "—" if v is None else f"{v:,.{digits}f}"


def ms(v):
    return "—" if v is None else (f"{v:.1f}" if v < 100 else f"{v:,.0f}")


def reference(res, phase):
    """What a phase's throughput is held against: the baseline's, or under overload the clean drain rate."""
    if res["workload"] == "overload" and phase["phase"] == "pressure":
        return res.get("drain_rate")
    return next((p["rate"] for p in res["phases"] if p["phase"] == "baseline"), None)


def render(results, info):
    args = info["args"]
    systems = list(args["systems"])
    by = {(r["workload"], r["system"]): r for r in results if "phases" in r}
    m = info["machine"]
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM, Linux {m['kernel']}",
        f"PostgreSQL: {info.get('postgres', '?')}",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in info.get("versions", {}).items()),
        f"django_jobs at: {info.get('git')}",
        f"Load average (1/5/15 min) before: {info.get('load_before')}, after: {info.get('load_after', '?')}; "
        f"run {info.get('started')} → {info.get('finished', '?')}",
        f"{args['slots']} job slots per system; phases of {args['phase_seconds'] or 'the default'} s; one run.",
        "Rates (jobs/s): "
        + "; ".join(
            f"{LABELS[s]} clean drain {num(r['drain'])}, flow {num(r['flow'])}"
            for s, r in info.get("rates", {}).items()
        ),
        "",
    ]
    head = ["scenario", "phase"]
    for s in systems:
        head += [f"{LABELS[s]} jobs/s (kept)", "p50 / p99 ms", "dead tuples peak"]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "|".join(["---", "---"] + ["---:"] * (len(head) - 2)) + "|")
    misses = []
    for scenario in args["scenarios"]:
        for k, name in enumerate(("baseline", "pressure", "recovery")):
            row = [scenario if k == 0 else "", name]
            for s in systems:
                res = by.get((scenario, s))
                phase = next((p for p in res["phases"] if p["phase"] == name), None) if res else None
                if phase is None:
                    row += ["—", "—", "—"]
                    continue
                ref = reference(res, phase)
                share = phase["rate"] / ref if ref else None
                kept = f" ({share:.0%})" if share is not None and name != "baseline" else ""
                late = f", {phase['not_started']:,} not started" if phase["not_started"] else ""
                row += [
                    num(phase["rate"]) + kept,
                    f"{ms(phase['p50'])} / {ms(phase['p99'])}{late}",
                    num(phase["dead_max"]),
                ]
                p99 = phase["p99"]
                if name != "baseline" and (
                    (share is not None and share < KEEP_SHARE) or p99 is None or p99 >= P99_LIMIT_MS
                ):
                    misses.append(
                        f"{scenario} {name}, {LABELS[s]}: {num(share * 100 if share else None)}% kept, p99 {ms(p99)} ms"
                    )
            lines.append("| " + " | ".join(row) + " |")
    lines += [
        "",
        "jobs/s: jobs finished in the phase / its length; (kept): share of the baseline's, or under overload's "
        "pressure of the clean drain rate. p50 / p99: pick-up latency of the jobs enqueued in the phase, from the "
        "enqueue's commit to the job's start. Dead tuples: peak of pg_stat_user_tables.n_dead_tup of the job table.",
    ]
    if misses:
        lines += ["", f"Below issue 17's bar (< {KEEP_SHARE:.0%} kept or p99 >= {P99_LIMIT_MS:.0f} ms):"]
        lines += [f"- {x}" for x in misses]
    notes = [(k, r.get("notes")) for k, r in sorted(by.items()) if r.get("notes")]
    if notes:
        lines += ["", "Pressure notes: " + "; ".join(f"{w} {LABELS[s]} {n}" for (w, s), n in notes)]
    errors = [r for r in results if "error" in r]
    if errors:
        lines += ["", "Errors:"] + [f"- {r.get('workload')} {r.get('system')}: {r['error'][-300:]}" for r in errors]
    return "\n".join(lines) + "\n"
