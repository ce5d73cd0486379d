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

# What `some_dict.name` could mean as an attribute of a dict (its methods and the like).
_DICT_ATTRIBUTES = frozenset(dir(dict))


class EntityEnvironment(jinja2.Environment):
    """Templates read entity dicts (`status.account.display_name`). Jinja tries
    getattr() first and falls back to the key when that raises: an AttributeError per
    lookup, thousands per page, which was a fifth of the home page's time under py-spy.
    For a dict and a name that is not a dict attribute the answer is the key either way,
    so it is read directly; everything else goes the usual way."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)


templates = Jinja2Templates(
    env=EntityEnvironment(
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
