"""
Where the time goes, from a py-spy speedscope file (``--format speedscope``, sampled with ``--idle``
so that time blocked on the database counts too):

    python -m bench.profsummary FILE [--jobs N] [--top 25] [--match django_jobs]

Per thread: samples and seconds; then, over the threads that ran jobs (or all threads), the
functions with the largest inclusive share, and the leaf (self) share grouped by where the
sample was: waiting on PostgreSQL (psycopg's wait), other I/O waits, or Python code. With
``--jobs N`` also the milliseconds per job.
"""

import argparse
import collections
import json
import os


def load(path):
    with open(path) as f:
        return json.load(f)


def label(frame):
    name = frame["name"]
    path = frame.get("file") or ""
    short = path
    for marker in ("site-packages/", "/work/main/", "lib/python3.12/"):
        if marker in path:
            short = path.split(marker, 1)[1]
            break
    return f"{name} ({short}:{frame.get('line')})"


def category(stack, frames):
    """Coarse bucket of one sample, from its leaf frames."""
    names = [frames[i]["name"] for i in stack[-6:]]
    files = [frames[i].get("file") or "" for i in stack[-6:]]
    leaf = names[-1] if names else ""
    joined = " ".join(names)
    if any("psycopg" in f for f in files) and any(n in joined for n in ("wait", "select", "poll", "_wait")):
        return "waiting on PostgreSQL (psycopg wait)"
    if leaf in ("sleep", "wait", "select", "poll", "epoll", "_worker") or "Condition.wait" in joined:
        return "idle (sleep / queue / condition wait)"
    return "running Python (CPU)"


def summarize(path, jobs=None, top=25, match=None, threads=None, within=None):
    data = load(path)
    frames = data["shared"]["frames"]
    out = [f"Profile {os.path.basename(path)}"]
    chosen = []
    for prof in data["profiles"]:
        secs = prof["endValue"] - prof["startValue"]
        out.append(f"  thread {prof['name']}: {len(prof['samples'])} samples, {secs:.2f} s")
        if threads is None or any(t in prof["name"] for t in threads):
            chosen.append(prof)
    inclusive = collections.Counter()
    self_ = collections.Counter()
    buckets = collections.Counter()
    total = 0.0
    for prof in chosen:
        for stack, weight in zip(prof["samples"], prof["weights"]):
            if not stack:
                continue
            if within and not any(any(w in frames[i]["name"] for w in within) for i in stack):
                continue
            total += weight
            seen = set()
            for i in stack:
                key = label(frames[i])
                if key not in seen:
                    inclusive[key] += weight
                    seen.add(key)
            self_[label(frames[stack[-1]])] += weight
            buckets[category(stack, frames)] += weight
    if not total:
        return "\n".join([*out, "  (no samples)"])
    per_job = f", {total * 1000 / jobs:.3f} ms per job" if jobs else ""
    names = ", ".join(p["name"] for p in chosen)
    only = f" (samples within {', '.join(within)})" if within else ""
    out.append(f"Threads summed: {names}{only}: {total:.2f} s sampled{per_job}")
    for name, w in buckets.most_common():
        extra = f" = {w * 1000 / jobs:.3f} ms/job" if jobs else ""
        out.append(f"  {w / total:6.1%}  {name}{extra}")
    out.append(f"Top inclusive{' (' + match + ')' if match else ''}:")
    shown = 0
    for name, w in inclusive.most_common():
        if match and match not in name:
            continue
        extra = f"  {w * 1000 / jobs:.3f} ms/job" if jobs else ""
        out.append(f"  {w / total:6.1%}{extra}  {name}")
        shown += 1
        if shown >= top:
            break
    out.append("Top self (leaf):")
    for name, w in self_.most_common(top):
        out.append(f"  {w / total:6.1%}  {name}")
    return "\n".join(out)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("files", nargs="+")
    p.add_argument("--jobs", type=int)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--match", help="only functions whose label contains this (for the inclusive list)")
    p.add_argument("--threads", help="comma-separated substrings of thread names to include")
    p.add_argument("--within", help="only samples with a frame whose name contains one of these (comma-separated)")
    a = p.parse_args()
    threads = a.threads.split(",") if a.threads else None
    for f in a.files:
        within = a.within.split(",") if a.within else None
        print(summarize(f, a.jobs, a.top, a.match, threads, within))
        print()


if __name__ == "__main__":
    main()
