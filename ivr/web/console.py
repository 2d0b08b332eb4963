"""The operators' console at /console: today's state, usage, the line as a picture, and a trial phone.

Everything here runs only for /console requests (blueprint hooks, never app-wide ones),
so the webhooks pay nothing for it. It is 404 until an operator account exists.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, g, redirect, render_template, request, url_for

from ..channels import CHANNELS
from ..console import accounts, guard, pages, trial
from ..hours import status_line
from .common import line, now

bp = Blueprint(
    "console", __name__, url_prefix="/console", static_folder="../static/console", static_url_path="/static"
)
log = logging.getLogger("ivr.console")
OPEN_ENDPOINTS = ("console.login", "console.static")
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# A chart is an SVG image with its own style sheet inside; it may style itself and nothing else.
CHART_POLICY = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"


def init_app(app: Flask) -> None:
    """Read the console's settings and add its pages to the app."""
    app.config.setdefault("OPERATORS_FILE", os.environ.get(accounts.FILE_VARIABLE, ""))
    app.config.setdefault("OPERATORS", os.environ.get(accounts.LIST_VARIABLE, ""))
    resources = app.extensions["ivr"]
    app.extensions["ivr_console"] = {
        "sessions": guard.Sessions(resources.secret, resources.store),
        "lockout": guard.Lockout(resources.store, resources.secret),
    }
    app.register_blueprint(bp)


def _guards() -> dict[str, Any]:
    return current_app.extensions["ivr_console"]


def _accounts() -> dict[str, str]:
    config = current_app.config
    try:
        return accounts.load(config["OPERATORS_FILE"], config["OPERATORS"])
    except accounts.AccountError as error:
        log.error("console accounts unreadable: the console stays hidden until this is fixed",
                  extra={"fields": {"problem": str(error)}})
        return {}


@bp.before_request
def _let_in() -> Any:
    """Hide the console without accounts; send strangers to the login page; check every form's token."""
    if not _accounts():
        abort(404)
    g.console = _guards()["sessions"].read(request.cookies.get(guard.COOKIE))
    if request.method == "POST" and not guard.csrf_ok(g.console, request.form.get("csrf", "")):
        abort(400, "This form has expired. Go back, reload the page and try again.")
    if not g.console.operator and request.endpoint not in OPEN_ENDPOINTS:
        return redirect(url_for("console.login"))
    return None


@bp.after_request
def _protect(response: Response) -> Response:
    """Add the console's security headers and refresh the session cookie."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    session = g.get("console")
    if session is not None and request.endpoint != "console.static":
        secure = current_app.config["PUBLIC_URL"].startswith("https://")
        response.set_cookie(
            guard.COOKIE, _guards()["sessions"].write(session), max_age=guard.IDLE_SECONDS,
            path="/console", secure=secure, httponly=True, samesite="Strict",
        )
    return response


def _page(template: str, **context: Any) -> str:
    return render_template(f"console/{template}", session=g.console, **context)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """Sign an operator in: a fresh session on success; wrong passwords slow, then pause, the address."""
    if request.method == "GET":
        return _page("login.html", message="")
    lockout = _guards()["lockout"]
    address = request.remote_addr or "unknown"
    refusal = lockout.refusal(address)
    name, password = request.form.get("name", "")[:64], request.form.get("password", "")[:1024]
    if refusal or not accounts.verify(_accounts(), name, password):
        lockout.failed(address)
        message = refusal or "That name and password do not match an operator account."
        return _page("login.html", message=message), 429 if refusal else 401
    lockout.succeeded(address)
    g.console = guard.Session.fresh(name, _guards()["sessions"].clock())
    return redirect(url_for("console.today"))


@bp.post("/logout")
def logout() -> Any:
    """End this session, here and for any copy of its cookie."""
    _guards()["sessions"].end(g.console)
    g.console = guard.Session.fresh("", _guards()["sessions"].clock())
    return redirect(url_for("console.login"))


@bp.get("")
def today() -> str:
    """Show whether the line is ready, open, this week's hours and today's counts."""
    return _page("today.html", today=pages.today(line(), now()))


@bp.get("/usage")
def usage() -> str:
    """Show the daily counts as charts and a table."""
    data = pages.usage(line().store, now(), pages.usage_days(request.args.get("days")))
    head, rows = pages.table(data)
    return _page("usage.html", usage=data, head=head, rows=rows, charts=pages.CHARTS)


@bp.get("/usage.csv")
def usage_csv() -> Response:
    """Download the daily counts as CSV."""
    days = pages.usage_days(request.args.get("days"))
    body = pages.usage_csv(pages.usage(line().store, now(), days))
    disposition = f'attachment; filename="helpline-usage-{days}-days.csv"'
    return Response(body, mimetype="text/csv", headers={"Content-Disposition": disposition})


@bp.get("/usage/<chart>.svg")
def usage_chart(chart: str) -> Response:
    """Draw one usage chart as an SVG image."""
    days = pages.usage_days(request.args.get("days"))
    svg = pages.chart(chart, pages.usage(line().store, now(), days))
    if svg is None:
        abort(404)
    return Response(svg, mimetype="image/svg+xml", headers={"Content-Security-Policy": CHART_POLICY})


@bp.get("/line")
def the_line() -> str:
    """Show the whole call flow and text menu, with timings, segments and file:line."""
    return _page("line.html", picture=pages.picture(line().live, current_app.config["PROMPTS_DIR"], now()))


@bp.route("/try", methods=["GET", "POST"])
def try_it() -> str:
    """Walk a pretend call and a pretend text conversation through the real engine, sending nothing."""
    script = line().live.current()
    state = trial.State.from_form(request.form) if request.method == "POST" else trial.State()
    error, when_status = "", ""
    if script is not None:
        if request.method == "POST":
            state, error = trial.step(script, state, request.form, now())
        moment, _ = trial.moment(state, script, now())
        when_status = f"At {moment:%a %d %b %Y %H:%M} the helpline is {status_line(script.hours, moment)}."
    return _page("try.html", state=state, error=error, ready=script is not None, choices=trial.DIAL_CHOICES,
                 when_status=when_status, channels=CHANNELS)
