"""The one Jinja2 environment every HTML page renders with (web pages and the OAuth pages).

Autoescape is on for every template (Starlette's Jinja2Templates turns it on for .html),
so user content is escaped unless a template marks a Roost-made HTML field `|safe`.
Globals: `static_url(name)` (hashed asset links, roost.web.assets) and `csrf_token()`
(the form token of the current request, roost.web.session).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from fastapi.templating import Jinja2Templates

from roost.web.assets import static_url

TEMPLATE_DIR = Path(__file__).parent / "templates"

templates = Jinja2Templates(
    env=jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        # Templates ship with the code: no stat() of every template on every render (a
        # home page includes the status card once per status). Restart to see edits.
        auto_reload=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
)


@jinja2.pass_context
def _csrf_token(context: Any) -> str:
    """`{{ csrf_token() }}` in a template: the token of the request being rendered."""
    from roost.web.session import csrf_token

    return csrf_token(context["request"])


templates.env.globals["static_url"] = static_url
templates.env.globals["csrf_token"] = _csrf_token
