"""Plain text to the safe HTML Mastodon sends in `content`.

Everything is escaped; the only markup produced is what this module writes itself:
<p> per paragraph (blank-line separated), <br /> for single newlines, and <a> for
http(s) links, formatted like Mastodon's so clients that shorten links display them
the same way. The text is scanned once with one tokenizing pattern, so adding
mentions and hashtags later means adding alternatives to it, not another pass.
"""

from __future__ import annotations

import re

from markupsafe import escape

_URL = r"https?://[^\s<>\"'`]+"
_TOKEN = re.compile(f"(?P<url>{_URL})")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
# Closing punctuation directly after a URL usually belongs to the sentence.
_TRAILING = ".,;:!?'\""
DISPLAY_URL_MAX = 30


def _split_url(url: str) -> tuple[str, str]:
    """Moves trailing sentence punctuation (and an unbalanced ')') out of a URL."""
    tail = ""
    while url:
        last = url[-1]
        if last in _TRAILING or (last == ")" and url.count("(") < url.count(")")):
            tail = last + tail
            url = url[:-1]
        else:
            break
    return url, tail


def _link(url: str) -> str:
    scheme, _, rest = url.partition("://")
    prefix = f"{scheme}://"
    visible, hidden = rest[:DISPLAY_URL_MAX], rest[DISPLAY_URL_MAX:]
    ellipsis = " ellipsis" if hidden else ""
    return (
        f'<a href="{escape(url)}" target="_blank" rel="nofollow noopener noreferrer" '
        f'translate="no"><span class="invisible">{escape(prefix)}</span>'
        f'<span class="{ellipsis.strip()}">{escape(visible)}</span>'
        f'<span class="invisible">{escape(hidden)}</span></a>'
    )


def _render_inline(text: str) -> str:
    out: list[str] = []
    position = 0
    for match in _TOKEN.finditer(text):
        url, tail = _split_url(match.group("url"))
        out.append(str(escape(text[position : match.start()])))
        out.append(_link(url) if "://" in url and url.split("://", 1)[1] else str(escape(url)))
        out.append(str(escape(tail)))
        position = match.end()
    out.append(str(escape(text[position:])))
    return "".join(out).replace("\n", "<br />")


def render_plain_text(text: str) -> str:
    normalised = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not normalised:
        return ""
    paragraphs = _PARAGRAPH_BREAK.split(normalised)
    return "".join(f"<p>{_render_inline(p.strip())}</p>" for p in paragraphs if p.strip())
