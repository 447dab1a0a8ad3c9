"""The SLA report: charts drawn as SVG on the server with pygal, each with its data as CSV.

- Attainment of the first-response and status-update targets per week (of the ticket's
  opening), by severity and tier (a first response still running counts once made or
  missed), from the clocks the board last computed (the same
  computation as ``bridge sla``) for the escalations still open.
- Open escalations by severity at the end of each of the last weeks.
- Days from escalation to the fix's release, for resolved escalations with a fix version.

Escalations keep no resolution or release time of their own yet, so the last two use the
escalation row's ``updated_at`` (when sync last changed it, which is when it saw the
resolution) as that time.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from datetime import datetime, timedelta, timezone

import pygal
import sqlalchemy as sa
from flask import Blueprint, Response, abort, current_app, render_template
from pygal.style import Style
from sqlmodel import Session, col, select
from werkzeug.exceptions import HTTPException

from bridge.board.auth import error_page, requires, services
from bridge.store.tables import Escalation

bp = Blueprint("board_report", __name__, template_folder="templates")
bp.register_error_handler(HTTPException, error_page)
WEEKS = 12
CHARTS = {
    "attainment": "Targets met per week, by severity and tier (open escalations)",
    "open": "Open escalations by severity, end of each week",
    "time-to-fix": "Days from escalation to the fix's release",
}
_STYLE = Style(background="white", plot_background="white", foreground="#1a1a1a",
               foreground_strong="#1a1a1a", foreground_subtle="#555", font_family="sans-serif")


def _week(value: datetime) -> str:
    year, week, _ = value.isocalendar()
    return f"{year}-W{week:02d}"


def attainment_rows(sla_rows: list[dict]) -> list[list]:
    """``[week, severity, tier, first responses met, of, updates on time, of]`` per group.

    A first response counts once decided: made (met, or missed if late) or overdue
    (missed); one still running is in neither number. Status updates count as on time while
    the current cadence is not breached."""
    groups: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for row in sla_rows:
        clock = row.get("sla")
        if not clock or clock.get("best_effort"):
            continue
        opened = datetime.fromisoformat(row["opened_at"])
        counts = groups[(_week(opened), row["severity"], row.get("tier") or "-")]
        if clock.get("first_response_due"):
            made, missed = clock.get("first_response_at") is not None, bool(clock.get("first_response_breached"))
            # A first response neither made nor overdue yet is undecided: counting it as met
            # would show a customer who has heard nothing as a target kept.
            if made or missed:
                counts[1] += 1
                counts[0] += 0 if missed else 1
        if clock.get("status_update_every"):
            counts[3] += 1
            counts[2] += 0 if clock.get("update_breached") else 1
    return [[*key, *value] for key, value in sorted(groups.items())]


def open_rows(engine, now: datetime) -> list[list]:
    """``[week, severity, open at the week's end]`` for the last :data:`WEEKS` weeks, in one
    pass over the escalations (one counting column per week)."""
    ends = [now - timedelta(weeks=i) for i in range(WEEKS - 1, -1, -1)]
    columns = [sa.func.sum(sa.case((sa.and_(col(Escalation.created_at) <= end,
                                            sa.or_(col(Escalation.last_resolution).is_(None),
                                                   col(Escalation.updated_at) > end)), 1), else_=0))
               for end in ends]
    rows = []
    with Session(engine) as s:
        found = s.exec(select(Escalation.severity, *columns).group_by(Escalation.severity)
                       .order_by(Escalation.severity)).all()
    for i, end in enumerate(ends):
        for severity, *counts in found:
            if counts[i]:
                rows.append([_week(end), severity, int(counts[i])])
    return rows


def time_to_fix_rows(engine) -> list[list]:
    """``[Bug, severity, days]`` for resolved escalations that name a fix version."""
    with Session(engine) as s:
        found = s.exec(select(Escalation.jira_key, Escalation.severity, Escalation.created_at, Escalation.updated_at)
                       .where(col(Escalation.last_resolution).is_not(None),
                              col(Escalation.last_fix_versions).is_not(None),
                              Escalation.last_fix_versions != "[]")
                       .order_by(col(Escalation.updated_at).desc()).limit(500)).all()
    return [[key or "-", severity, round((updated - created).total_seconds() / 86400, 2)]
            for key, severity, created, updated in found]


_HEADERS = {
    "attainment": ["week", "severity", "tier", "first_response_met", "first_response_total",
                   "updates_on_time", "updates_total"],
    "open": ["week_ending", "severity", "open"],
    "time-to-fix": ["bug", "severity", "days"],
}


def chart_rows(name: str) -> list[list]:
    engine = services().store.engine
    now = datetime.now(timezone.utc)
    if name == "attainment":
        return attainment_rows(current_app.extensions["bridge.board.standings"].rows())
    if name == "open":
        return open_rows(engine, now)
    return time_to_fix_rows(engine)


def _svg(name: str, rows: list[list]) -> bytes:
    # No JavaScript in the SVG: the page's policy allows no inline script, and an <img>
    # would not run it anyway.
    config = dict(style=_STYLE, js=[], disable_xml_declaration=False, width=900, height=360,
                  x_label_rotation=30, legend_at_bottom=True, print_values=False, title=CHARTS[name])
    if name == "attainment":
        chart = pygal.Bar(**config, range=(0, 100), y_title="% met")
        weeks = sorted({r[0] for r in rows})
        chart.x_labels = weeks
        for label, met, total in (("first response", 3, 4), ("status updates", 5, 6)):
            by_group: dict[str, dict[str, float]] = defaultdict(dict)
            for r in rows:
                if r[total]:
                    by_group[f"{r[1]}/{r[2]} {label}"][r[0]] = 100.0 * r[met] / r[total]
            for group, values in sorted(by_group.items()):
                chart.add(group, [values.get(w) for w in weeks])
    elif name == "open":
        chart = pygal.StackedBar(**config, y_title="open")
        weeks = sorted({r[0] for r in rows})
        chart.x_labels = weeks
        by_severity: dict[str, dict[str, int]] = defaultdict(dict)
        for week, severity, count in rows:
            by_severity[severity][week] = count
        for severity, values in sorted(by_severity.items()):
            chart.add(severity, [values.get(w, 0) for w in weeks])
    else:
        chart = pygal.Box(**config, y_title="days")
        by_severity2: dict[str, list[float]] = defaultdict(list)
        for _, severity, days in rows:
            by_severity2[severity].append(days)
        for severity, values in sorted(by_severity2.items()):
            chart.add(severity, values)
    # pygal always embeds a small configuration script; an <img> never runs it, and the
    # chart needs none, so it goes.
    return re.sub(rb"<script\b[^>]*>.*?</script>", b"", chart.render(), flags=re.S)


@bp.get("/report")
@requires("viewer")
def report():
    tables = {name: chart_rows(name) for name in CHARTS}
    return render_template("board/report.html", charts=CHARTS, tables=tables, headers=_HEADERS)


@bp.get("/report/<name>.svg")
@requires("viewer")
def chart(name: str):
    if name not in CHARTS:
        abort(404)
    response = Response(_svg(name, chart_rows(name)), mimetype="image/svg+xml")
    # The chart's own inline styles are all it needs; nothing may run in it.
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response


@bp.get("/report/<name>.csv")
@requires("viewer")
def chart_csv(name: str):
    if name not in CHARTS:
        abort(404)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(_HEADERS[name])
    for row in chart_rows(name):
        # A cell starting with = + - @ would be a formula in a spreadsheet.
        writer.writerow([f"'{v}" if isinstance(v, str) and v[:1] in "=+-@" else v for v in row])
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="sla-{name}.csv"'})
