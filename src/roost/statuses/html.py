"""Plain text to the safe HTML Mastodon sends in `content`.

Everything is escaped; the only markup produced is what this module writes itself:
<p> per paragraph (blank-line separated), <br /> for single newlines, and <a> for
http(s) links, formatted like Mastodon's so clients that shorten links display them
the same way, and — when the caller resolves them — for @mentions and #hashtags.
The text is scanned once with one tokenizing pattern (URL | mention | hashtag); the
same scan serves `extract` (what a status mentions and tags, before anything is
looked up) and `render_plain_text` (the HTML, with links for what was resolved).

Mentions and hashtags follow Mastodon's patterns (Account::MENTION_RE, Tag::HASHTAG_RE):
- `@name` or `@name@domain`, not preceded by a word character, `=` or `/` (so an
  e-mail address is not a mention); the name is letters, digits and `_`, with `.`
  and `-` allowed inside.
- `#name` not preceded by a word character, `=`, `/` or `)`; the name is Unicode
  letters, digits, combining marks, `_` and the separators `·`, `・` and ZWNJ (not
  first or last), and must contain a letter: `#123` is not a hashtag.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import quote

from markupsafe import escape


def _combining_marks() -> str:
    """A character-class body of every combining mark (Unicode category M) in the
    first two planes: Python's \\w leaves them out, so "#हिन्दी" would stop at the
    first vowel sign. Built once at import (a few tens of milliseconds)."""
    ranges: list[str] = []
    start: int | None = None
    last = 0x1FFFF
    for code in range(last + 2):  # one past the end closes a range that reaches it
        mark = code <= last and unicodedata.category(chr(code)).startswith("M")
        if mark and start is None:
            start = code
        elif not mark and start is not None:
            ranges.append(f"{re.escape(chr(start))}-{re.escape(chr(code - 1))}")
            start = None
    return "".join(ranges)


_URL = r"https?://[^\s<>\"'`]+"
_USERNAME = r"[A-Za-z0-9_]+(?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?"
_DOMAIN = r"[\w-]+(?:\.[\w-]+)*(?::[0-9]{1,5})?"
_MENTION = rf"(?<![=/\w])@(?P<mention>{_USERNAME})(?:@(?P<domain>{_DOMAIN}))?"
HASHTAG_SEPARATORS = "\u00b7\u30fb\u200c"
_HASHTAG_CHARS = rf"[\w{_combining_marks()}{HASHTAG_SEPARATORS}]+"
_HASHTAG = rf"(?<![=/)\w])#(?P<hashtag>{_HASHTAG_CHARS})"
_HASHTAG_NAME = re.compile(_HASHTAG_CHARS)
_TOKEN = re.compile(f"(?P<url>{_URL})|{_MENTION}|{_HASHTAG}")
# The width of tags.name; a longer "tag" stays plain text.
HASHTAG_MAX = 100
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


def hashtag_name(raw: str) -> str | None:
    """The hashtag in `raw` (the text after '#'), or None when it is not one."""
    if not _HASHTAG_NAME.fullmatch(raw):
        return None
    name = raw.rstrip(HASHTAG_SEPARATORS)
    if not name or name[0] in HASHTAG_SEPARATORS or len(name) > HASHTAG_MAX:
        return None
    if not any(char.isalpha() for char in name):
        return None
    return name


def normalise_hashtag(name: str) -> str:
    """The case- and width-insensitive key tags are matched by (tags.name_lower)."""
    return unicodedata.normalize("NFKC", name).lower()


@dataclass(frozen=True)
class _Token:
    kind: str  # "url", "mention", "hashtag"
    start: int
    end: int
    value: str
    domain: str | None = None


def _tokens(text: str) -> Iterator[_Token]:
    for match in _TOKEN.finditer(text):
        if match.group("url") is not None:
            url, tail = _split_url(match.group("url"))
            if "://" in url and url.split("://", 1)[1]:
                yield _Token("url", match.start(), match.end() - len(tail), url)
        elif match.group("mention") is not None:
            yield _Token(
                "mention", match.start(), match.end(), match.group("mention"),
                match.group("domain"),
            )
        else:
            name = hashtag_name(match.group("hashtag"))
            if name is not None:
                yield _Token("hashtag", match.start(), match.start() + 1 + len(name), name)


@dataclass(frozen=True)
class Entities:
    """What a text mentions and tags, in order of first appearance, as written."""

    mentions: list[tuple[str, str | None]] = field(default_factory=list)  # (name, domain)
    hashtags: list[str] = field(default_factory=list)


def extract(text: str) -> Entities:
    found = Entities()
    for token in _tokens(text):
        if token.kind == "mention":
            found.mentions.append((token.value, token.domain))
        elif token.kind == "hashtag":
            found.hashtags.append(token.value)
    return found


# (name, domain or None) -> (profile URL, username to show), or None to leave it text.
MentionLinker = Callable[[str, str | None], tuple[str, str] | None]
# tag as written -> tag page URL, or None to leave it text.
HashtagLinker = Callable[[str], str | None]


def _mention_link(url: str, username: str) -> str:
    return (
        f'<span class="h-card" translate="no"><a href="{escape(url)}" class="u-url mention">'
        f"@<span>{escape(username)}</span></a></span>"
    )


def _hashtag_link(url: str, name: str) -> str:
    return (
        f'<a href="{escape(url)}" class="mention hashtag" rel="tag">'
        f"#<span>{escape(name)}</span></a>"
    )


def hashtag_url(base: str, name: str) -> str:
    return f"{base}/tags/{quote(name, safe='')}"


def _render_inline(
    text: str, mention: MentionLinker | None, hashtag: HashtagLinker | None
) -> str:
    out: list[str] = []
    position = 0
    for token in _tokens(text):
        markup: str | None = None
        if token.kind == "url":
            markup = _link(token.value)
        elif token.kind == "mention" and mention is not None:
            target = mention(token.value, token.domain)
            markup = _mention_link(*target) if target is not None else None
        elif token.kind == "hashtag" and hashtag is not None:
            url = hashtag(token.value)
            markup = _hashtag_link(url, token.value) if url is not None else None
        if markup is None:
            continue  # stays part of the surrounding text
        out.append(str(escape(text[position : token.start])))
        out.append(markup)
        position = token.end
    out.append(str(escape(text[position:])))
    return "".join(out).replace("\n", "<br />")


def render_plain_text(
    text: str, *, mention: MentionLinker | None = None, hashtag: HashtagLinker | None = None
) -> str:
    """Without linkers (account notes, profile fields) mentions and hashtags stay text."""
    normalised = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not normalised:
        return ""
    paragraphs = _PARAGRAPH_BREAK.split(normalised)
    return "".join(
        f"<p>{_render_inline(p.strip(), mention, hashtag)}</p>" for p in paragraphs if p.strip()
    )
