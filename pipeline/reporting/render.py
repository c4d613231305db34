"""Rendering of the reports from the Jinja2 templates in ``pipeline/reporting/templates``.

Python computes the figures and rows (plain dicts and lists); a template only lays them out.
One environment, built once: ``StrictUndefined`` (a variable the template names but the context
lacks raises instead of rendering as an empty string), the template's trailing newline kept,
``trim_blocks`` and ``lstrip_blocks`` so that a line holding only a block tag leaves nothing in
the output. Only HTML templates (``*.html.j2``) are escaped, with ``html.escape`` (what the
reports used before the templates: ``&#x27;`` and ``&quot;`` for quotes).

The filters below format figures the way every report writes them.
"""

from __future__ import annotations

import html
import json
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, pass_eval_context, select_autoescape
from jinja2.nodes import EvalContext
from markupsafe import Markup

PACKAGE = "pipeline.reporting"
TEMPLATES = "templates"
MISSING = "—"


# ------------------------------------------------------------------ filters


def number(value: Any) -> str:
    """A rate as ``0.812``, a count as written, ``—`` for none."""
    if value is None:
        return MISSING
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return str(value) if isinstance(value, int) else f"{value:.3f}"


def plain(value: Any) -> str:
    """A count, position or training figure as written (``16.5``, ``9``, ``0.0002``), not as a rate."""
    return MISSING if value is None else f"{value:.4g}" if isinstance(value, (int, float)) else str(value)


def interval(value: Any, bounds: list[float] | None) -> str:
    """``0.620 [0.589, 0.647]``: a value and its interval; the value alone (``number``) without one."""
    if value is None:
        return MISSING
    if bounds and len(bounds) == 2:
        return f"{value:.3f} [{bounds[0]:.3f}, {bounds[1]:.3f}]"
    return number(value)


def ci(value: Any, bounds: list[float] | None) -> str:
    """``0.812 [0.774, 0.850]``: always three decimals, the interval when there is one (leaderboard, benchmark)."""
    if value is None:
        return MISSING
    return f"{value:.3f}" + (f" [{bounds[0]:.3f}, {bounds[1]:.3f}]" if bounds else "")


def fixed(value: Any, digits: int = 3) -> str:
    """``value`` with ``digits`` decimals; ``—`` for none."""
    return MISSING if value is None else f"{value:.{digits}f}"


def percent(value: float, digits: int = 0) -> str:
    """A share as a percentage: ``0.1234`` → ``12.34%`` with ``digits=2``."""
    return f"{value:.{digits}%}"


def cell(text: Any) -> str:
    """Text safe inside a Markdown table cell: ``|`` escaped, line breaks as spaces."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def compact(value: Any) -> str:
    """A dict or list as one line of JSON (keys sorted); anything else as text."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True) if isinstance(value, (dict, list)) else str(value)


FILTERS = {
    "number": number,
    "plain": plain,
    "interval": interval,
    "ci": ci,
    "fixed": fixed,
    "percent": percent,
    "cell": cell,
    "compact": compact,
}


# -------------------------------------------------------------- environment


@pass_eval_context
def _finalize(eval_ctx: EvalContext, value: Any) -> Any:
    """In an autoescaped (HTML) template, escape with ``html.escape`` rather than MarkupSafe's
    entities, so that the HTML reports keep their bytes; text is left as it is elsewhere."""
    if eval_ctx.autoescape and not hasattr(value, "__html__"):
        return Markup(html.escape(str(value)))
    return value


@cache
def environment() -> Environment:
    """The one environment of the reports, templates loaded from the installed package."""
    env = Environment(
        loader=PackageLoader(PACKAGE, TEMPLATES),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=False),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_finalize,
    )
    env.filters.update(FILTERS)
    return env


def render(template_name: str, /, **context: Any) -> str:
    """``templates/<template_name>`` rendered with ``context``; a variable it lacks raises
    ``jinja2.UndefinedError``."""
    return environment().get_template(template_name).render(**context)
