"""
The parts of the docs that come from the code, checked at every build so that they cannot drift.

A page holds a *generated region*::

    <!-- generated: sql django_jobs/db/postgresql.py CLAIM_SQL -->
    ```sql
    ...the constant, verbatim...
    ```
    <!-- end generated -->

The region stays readable where the Markdown is read as is (GitHub), and ``mkdocs build`` (this
module is one of its hooks) fails when a region differs from what the code gives today.
``scripts/docs --sync`` rewrites every region, and the generated files (the state diagram), from
the code. Kinds of region:

- ``sql PATH NAME``: a string constant of a module, verbatim (read with ``ast``, not imported), or a
  statement built by ``declared(SQL, TRANSITION)`` as it runs (the module imported);
- ``help COMMAND [SUBCOMMAND]``: ``manage.py COMMAND [SUBCOMMAND] --help``, 100 columns wide;
- ``transitions``: the table of ``django_jobs.transitions.TRANSITIONS``;
- ``task-status``: ``django_jobs.states.TASK_STATUS``;
- ``model-fields MODEL``: the fields of a model of ``django_jobs.models``;
- ``choices NAME``: the values and labels of ``django_jobs.states.NAME``;

The settings table of reference.md is written by hand (its explanations are longer than the
code's comments) and checked: every field of ``django_jobs.conf.Options`` with its default, and
nothing else.
"""

import ast
import difflib
import os
import re
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
REGION = re.compile(
    r"(?P<open><!-- generated: (?P<spec>[^>]*?) -->\n)(?P<body>.*?)(?P<close><!-- end generated -->)", re.S
)
SETTINGS_MARK = "<!-- checked: settings -->"
TASK_OPTIONS_MARK = "<!-- checked: task-options -->"
STATE_SVG = DOCS / "images" / "states.svg"


class DocsOutOfDate(Exception):
    pass


# -- Django, configured once, for the commands' help and the models -------------------------------------------


def setup_django():
    import django
    from django.conf import settings

    if not settings.configured:
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        settings.configure(
            INSTALLED_APPS=[
                "django.contrib.admin",
                "django.contrib.auth",
                "django.contrib.contenttypes",
                "django.contrib.sessions",
                "django.contrib.messages",
                "django_jobs",
            ],
            DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
            TASKS={"default": {"BACKEND": "django_jobs.backend.DatabaseBackend"}},
            USE_TZ=True,
        )
        django.setup()


# -- kinds of region -----------------------------------------------------------------------------------------


def module_constant(path, name):
    """The value of ``NAME = "..."`` at the top level of ``path`` (a file under the repository)."""
    tree = ast.parse((ROOT / path).read_text(), filename=path)
    for node in tree.body:
        targets = (
            node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        )
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            value = node.value
            if isinstance(value, ast.Call) and getattr(value.func, "id", None) == "declared":
                # declared(SQL, TRANSITION): the statement as it runs, its transition's parts filled in.
                setup_django()
                import importlib

                module = ".".join(Path(path).with_suffix("").parts)
                return getattr(importlib.import_module(module), name)
            return ast.literal_eval(value)
    raise DocsOutOfDate(f"{path} has no top-level constant {name} any more.")


def gen_sql(path, name):
    sql = textwrap.dedent(module_constant(path, name)).strip("\n")
    return f"```sql\n{sql}\n```\n"


def _one_form_of(formatter_class):
    """
    ``formatter_class`` writing an option as Python 3.13 does (``-q, --queue NAME``) on every Python:
    3.12 and older write ``-q NAME, --queue NAME``, and the check must not depend on who built the docs.
    """

    class OneForm(formatter_class):
        def _format_action_invocation(self, action):
            if not action.option_strings or action.nargs == 0:
                return super()._format_action_invocation(action)
            default = self._get_default_metavar_for_optional(action)
            return ", ".join(action.option_strings) + " " + self._format_args(action, default)

    return OneForm


def gen_help(command, *subcommand):
    setup_django()
    from django.core.management import load_command_class

    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"
    try:
        parser = load_command_class("django_jobs", command).create_parser("manage.py", command)
        if subcommand:
            (action,) = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
            parser = action.choices[subcommand[0]]
        parser.formatter_class = _one_form_of(parser.formatter_class)
        text = parser.format_help()
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous
    return f"```text\n{text.rstrip()}\n```\n"


#: What each event of TRANSITIONS is, in words. A new event fails the build until it is described here.
EVENTS = {
    "claim": "a worker claims it: `run_after` has passed, its queue is not paused, a concurrency limit allows it",
    "complete": "the function returns (or `replace_with` inserts its successors)",
    "retry_later": "the function raises, attempts are left and the backoff gives a delay: due again after it",
    "fail": "the function raises with no attempt left, raises `PermanentFailure`, or cannot be run at all",
    "decline": "the function raises `Decline`: due again later, the attempt is given back",
    "release": "the worker stops (SIGTERM/SIGINT) before the job finished within the grace period",
    "rescue": "its lease ran out (the worker died or hangs): the attempt is closed as lost; ready again",
    "rescue_fail": "its lease ran out and no attempt is left: the attempt is closed as lost, the job failed",
    "cancel": "`django_jobs.cancel()`, `manage.py jobs cancel` or the admin; a running job's worker is told to stop",
    "expire": "its `expires_at` passes before any worker claimed it",
    "retry": "an operator retries it (`django_jobs.retry()`, `jobs retry`, the admin): a fresh attempt budget",
    "retry_waiting": "an operator retries it while some of its dependencies, retried before it, have not finished",
    "enqueue": "`task.enqueue()`, `django_jobs.enqueue()` or `enqueue_many()` writes it (in the caller's transaction)",
    "enqueue_waiting": "it is enqueued with `depends_on` jobs not all finished ([workflows](workflows.md))",
    "unblock": "the last job it depends on succeeds (with `run_on_failure`: finishes), in that same transaction",
    "abandon": "a job it depends on fails for good, is cancelled or expires (transitively), "
    "unless it has `run_on_failure`",
    "add_and_claim": "`django_jobs.enqueue_and_run()` writes it already running here, as its first attempt",
    "run_now": "an operator makes a deferred ready job due now (`django_jobs.run_now()`, `jobs run-now`, the admin)",
}


def _states():
    """{event: (source states, target state)} from django_jobs.transitions.TRANSITIONS."""
    from django_jobs.transitions import TRANSITIONS

    return {name: (t.sources, t.target) for name, t in TRANSITIONS.items()}


def gen_transitions():
    transitions = _states()
    missing = set(transitions) - set(EVENTS)
    if missing:
        raise DocsOutOfDate(
            f"django_jobs.transitions.TRANSITIONS has events the docs do not describe: {sorted(missing)}"
        )
    lines = ["| event | from | to | when |", "|---|---|---|---|"]
    for event, (sources, target) in transitions.items():
        froms = ", ".join(f"`{s.value}`" for s in sorted(sources)) or "(new job)"
        lines.append(f"| `{event}` | {froms} | `{target.value}` | {EVENTS[event]} |")
    return "\n".join(lines) + "\n"


def gen_task_status():
    from django_jobs.states import TASK_STATUS

    lines = ["| job state | `TaskResult.status` |", "|---|---|"]
    lines += [f"| `{state.value}` | `{status.name}` |" for state, status in TASK_STATUS.items()]
    return "\n".join(lines) + "\n"


def gen_model_fields(model_name):
    setup_django()
    from django_jobs import models

    model = getattr(models, model_name)
    lines = ["| field | type | null | default |", "|---|---|---|---|"]
    for field in model._meta.get_fields():
        if field.auto_created and not field.concrete:
            continue  # reverse relations
        kind = field.get_internal_type()
        if getattr(field, "max_length", None):
            kind += f"({field.max_length})"
        if field.is_relation:
            kind = f"ForeignKey to `{field.related_model.__name__}`"
        column = f" (column `{field.column}`)" if field.column != field.name and not field.is_relation else ""
        if field.has_db_default():
            default = f"database: `{field.db_default.__class__.__name__}()`"
        elif field.has_default():
            value = field.default() if callable(field.default) else field.default
            default = f"`{getattr(value, 'value', value)!r}`"
        else:
            default = ""
        if getattr(field, "primary_key", False):
            default = "primary key"
        lines.append(f"| `{field.name}`{column} | {kind} | {'yes' if field.null else ''} | {default} |")
    return "\n".join(lines) + "\n"


def gen_choices(name):
    from django_jobs import states

    choices = getattr(states, name)
    lines = ["| value | label |", "|---|---|"]
    lines += [f"| `{member.value}` | {member.label} |" for member in choices]
    return "\n".join(lines) + "\n"


KINDS = {
    "choices": gen_choices,
    "sql": gen_sql,
    "help": gen_help,
    "transitions": gen_transitions,
    "task-status": gen_task_status,
    "model-fields": gen_model_fields,
}


def generate(spec):
    setup_django()
    kind, *args = spec.split()
    if kind not in KINDS:
        raise DocsOutOfDate(f"unknown generated region kind {kind!r} (known: {sorted(KINDS)})")
    return KINDS[kind](*args)


# -- the state diagram (an SVG file: readable on the site and on GitHub) --------------------------------------

#: Where each state sits (centre x, y). Edges and their labels come from TRANSITIONS.
LAYOUT = {
    "waiting": (130, 90),
    "ready": (130, 230),
    "running": (430, 230),
    "succeeded": (740, 90),
    "failed": (740, 230),
    "cancelled": (430, 400),
    "expired": (130, 400),
}
COLOURS = {
    "waiting": "#5c6bc0",
    "ready": "#1e6fd9",
    "running": "#c77c02",
    "succeeded": "#1b8a3a",
    "failed": "#c62828",
    "cancelled": "#6b6b6b",
    "expired": "#6b6b6b",
}
#: How far an edge bends from the straight line (pixels, to the left of its direction), per pair.
BENDS = {
    ("ready", "running"): -28,
    ("running", "ready"): -28,
    ("failed", "ready"): -150,
    ("cancelled", "ready"): -40,
    ("ready", "cancelled"): -40,
    ("expired", "ready"): -22,
    ("ready", "expired"): -22,
    ("waiting", "expired"): -75,  # round the left of ready
}
BOX_W, BOX_H = 112, 40


def _edge_point(centre, towards):
    """Where the segment from a box's centre towards a point leaves the box."""
    (x, y), (tx, ty) = centre, towards
    dx, dy = tx - x, ty - y
    if dx == 0 and dy == 0:
        return x, y
    scale = min(
        (BOX_W / 2 + 4) / abs(dx) if dx else float("inf"),
        (BOX_H / 2 + 4) / abs(dy) if dy else float("inf"),
    )
    return x + dx * scale, y + dy * scale


def state_svg():
    from django_jobs.states import JobState

    edges = {}  # (from, to) -> [labels]; new jobs and moves within a state (run_now) are in the table only
    for event, (sources, target) in _states().items():
        for source in sorted(sources):
            if source != target:
                edges.setdefault((source.value, target.value), []).append(event)
    unknown = {s.value for s in JobState} - set(LAYOUT)
    if unknown:
        raise DocsOutOfDate(f"states missing from the diagram's LAYOUT: {sorted(unknown)}")

    out = [
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 880 465" width="880" height="465" '
        'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif" font-size="12" '
        'role="img" aria-labelledby="title">',
        '<title id="title">Job states and the events between them (django_jobs.transitions.TRANSITIONS)</title>',
        '<rect width="880" height="465" fill="#ffffff"/>',
        "<defs>",
        '<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#444"/></marker>',
        '<marker id="arrow-retry" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#1e6fd9"/></marker>',
        "</defs>",
    ]
    for (source, to), labels in edges.items():
        (x1, y1), (x2, y2) = LAYOUT[source], LAYOUT[to]
        bend = BENDS.get((source, to), 0)
        dx, dy = x2 - x1, y2 - y1
        length = (dx * dx + dy * dy) ** 0.5
        nx, ny = dy / length, -dx / length  # left of the direction of travel
        cx, cy = (x1 + x2) / 2 + nx * bend * 2, (y1 + y2) / 2 + ny * bend * 2
        sx, sy = _edge_point((x1, y1), (cx, cy) if bend else (x2, y2))
        ex, ey = _edge_point((x2, y2), (cx, cy) if bend else (x1, y1))
        retry = labels == ["retry"]
        style = (
            'stroke="#1e6fd9" stroke-dasharray="5 3" marker-end="url(#arrow-retry)"'
            if retry
            else ('stroke="#444" marker-end="url(#arrow)"')
        )
        out.append(
            f'<path d="M{sx:.0f},{sy:.0f} Q{cx:.0f},{cy:.0f} {ex:.0f},{ey:.0f}" fill="none" '
            f'stroke-width="1.4" {style}/>'
        )
        if retry:
            continue  # explained once, by the legend
        # The label sits beside the curve's middle, on its convex side (straight edges: below or right).
        mx, my = 0.25 * sx + 0.5 * cx + 0.25 * ex, 0.25 * sy + 0.5 * cy + 0.25 * ey
        ox, oy = (nx, ny) if bend > 0 else (-nx, -ny)
        if not bend and (oy < 0 or (abs(oy) < 0.5 and ox < 0)):
            ox, oy = -ox, -oy
        lx, ly = mx + ox * 8, my + oy * 8
        count = len(labels)
        if abs(oy) >= abs(ox):
            anchor = "middle"
            first = ly + 11 if oy > 0 else ly - 15 * (count - 1) - 3
        else:
            anchor = "start" if ox > 0 else "end"
            first = ly - 15 * (count - 1) / 2 + 4
        out.append(
            f'<text text-anchor="{anchor}" fill="{"#1e6fd9" if retry else "#222"}" stroke="#ffffff" '
            'stroke-width="4" stroke-linejoin="round" paint-order="stroke">'
        )
        out += [f'<tspan x="{lx:.0f}" y="{first + 15 * i:.0f}">{label}</tspan>' for i, label in enumerate(labels)]
        out.append("</text>")
    for state, (x, y) in LAYOUT.items():
        colour = COLOURS[state]
        out.append(
            f'<rect x="{x - BOX_W / 2:.0f}" y="{y - BOX_H / 2:.0f}" width="{BOX_W}" height="{BOX_H}" rx="8" '
            f'fill="{colour}" fill-opacity="0.12" stroke="{colour}" stroke-width="2"/>'
        )
        out.append(
            f'<text x="{x}" y="{y + 5}" text-anchor="middle" font-size="15" font-weight="600" '
            f'fill="{colour}">{state}</text>'
        )
    out += [
        '<path d="M560,445 L610,445" stroke="#1e6fd9" stroke-width="1.4" stroke-dasharray="5 3" '
        'marker-end="url(#arrow-retry)"/>',
        '<text x="618" y="449" fill="#1e6fd9">retry: an operator makes it ready again</text>',
    ]
    out.append("</svg>")
    return "\n".join(out) + "\n"


# -- the settings table ------------------------------------------------------------------------------------


def _table_after(markdown, mark):
    """The rows (lists of cells) of the table that follows ``mark``, header rows left out."""
    table = []
    for line in markdown.split(mark, 1)[1].lstrip("\n").splitlines():
        if not line.startswith("|"):
            break
        table.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return table[2:]


def _cell_value(cell):
    """A default as the settings table writes it: `30`, `"path"`, `None`, `{}`, 7 days."""
    if m := re.fullmatch(r"(\d+) days?", cell):
        return timedelta(days=int(m[1]))
    return ast.literal_eval(cell.strip("`"))


def check_settings_table(markdown, page):
    """The settings table after SETTINGS_MARK lists every option of Options, with its default, and no other."""
    from dataclasses import MISSING, fields

    from django_jobs.conf import Options

    expected = {f.name: f.default if f.default is not MISSING else f.default_factory() for f in fields(Options)}
    found = {}
    for cells in _table_after(markdown, SETTINGS_MARK):
        name = cells[0].strip("`")
        try:
            found[name] = _cell_value(cells[1])
        except (ValueError, SyntaxError):
            raise DocsOutOfDate(f"{page}: the default of {name} reads {cells[1]!r}, not a value") from None
    problems = [f"option {name} (default {expected[name]!r}) is missing" for name in sorted(set(expected) - set(found))]
    problems += [f"option {name} is not in django_jobs.conf.Options" for name in sorted(set(found) - set(expected))]
    problems += [
        f"option {name}: the table says {found[name]!r}, the code {expected[name]!r}"
        for name in sorted(set(found) & set(expected))
        if found[name] != expected[name] or type(found[name]) is bool is not type(expected[name])
    ]
    if problems:
        raise DocsOutOfDate(f"{page}: the settings table disagrees with django_jobs/conf.py: " + "; ".join(problems))


def check_task_options_table(markdown, page):
    """The task options table after TASK_OPTIONS_MARK names every option of JOB_OPTIONS, and no other."""
    from django_jobs.task import JOB_OPTIONS

    found = set()
    for cells in _table_after(markdown, TASK_OPTIONS_MARK):
        found |= set(re.findall(r"`(\w+)`", cells[0]))
    if found != set(JOB_OPTIONS):
        raise DocsOutOfDate(
            f"{page}: the task options table names {sorted(found)}, django_jobs.task.JOB_OPTIONS {sorted(JOB_OPTIONS)}"
        )


# -- checking and syncing pages ----------------------------------------------------------------------------


def render_regions(markdown):
    """``markdown`` with every generated region regenerated."""
    return REGION.sub(lambda m: m["open"] + generate(m["spec"]) + m["close"], markdown)


def check_page(markdown, page):
    fresh = render_regions(markdown)
    if fresh != markdown:
        diff = "".join(
            difflib.unified_diff(
                markdown.splitlines(keepends=True), fresh.splitlines(keepends=True), f"{page} (docs)", f"{page} (code)"
            )
        )
        raise DocsOutOfDate(f"{page} is out of date with the code; run scripts/docs --sync.\n{diff}")
    if SETTINGS_MARK in markdown:
        check_settings_table(markdown, page)
    if TASK_OPTIONS_MARK in markdown:
        check_task_options_table(markdown, page)


def check_files():
    if not STATE_SVG.exists() or STATE_SVG.read_text() != state_svg():
        raise DocsOutOfDate(
            f"{STATE_SVG.relative_to(ROOT)} is out of date with django_jobs/states.py; run scripts/docs --sync."
        )


def sync():
    """Rewrite every generated region and file from the code; print what changed."""
    changed = []
    for path in sorted(DOCS.rglob("*.md")):
        text = path.read_text()
        fresh = render_regions(text)
        if fresh != text:
            path.write_text(fresh)
            changed.append(path)
    STATE_SVG.parent.mkdir(exist_ok=True)
    svg = state_svg()
    if not STATE_SVG.exists() or STATE_SVG.read_text() != svg:
        STATE_SVG.write_text(svg)
        changed.append(STATE_SVG)
    for path in changed:
        print(f"updated {path.relative_to(ROOT)}")
    return changed


# -- mkdocs hooks ------------------------------------------------------------------------------------------


def on_config(config):
    check_files()
    # performance.md is written apart from the rest; the nav names it only once it exists.
    config["nav"] = _existing(config["nav"], Path(config["docs_dir"]))
    return config


def _existing(nav, docs_dir):
    kept = []
    for item in nav:
        if isinstance(item, dict):
            ((title, value),) = item.items()
            if isinstance(value, list):
                kept.append({title: _existing(value, docs_dir)})
            elif value in OPTIONAL_PAGES and not (docs_dir / value).exists():
                continue
            else:
                kept.append(item)
        else:
            kept.append(item)
    return kept


#: Pages the nav lists only when they exist.
OPTIONAL_PAGES = {"performance.md"}


def on_page_markdown(markdown, page, config, files):
    try:
        check_page(markdown, page.file.src_uri)
    except DocsOutOfDate as e:
        from mkdocs.exceptions import PluginError

        raise PluginError(str(e)) from None
    return markdown


if __name__ == "__main__":
    if sys.argv[1:] == ["--sync"]:
        sync()
    elif sys.argv[1:] == ["--check"]:
        for path in sorted(DOCS.rglob("*.md")):
            check_page(path.read_text(), path.relative_to(DOCS))
        check_files()
        print("generated parts of the docs are up to date")
    else:
        sys.exit("usage: generated.py --sync | --check")
