"""Plain text to the safe HTML of a status's `content`, in Mastodon's format."""

from __future__ import annotations

import re

import pytest

from roost.statuses.html import DISPLAY_URL_MAX, render_plain_text


def link(url: str, display: str | None = None, hidden: str = "") -> str:
    """The markup Mastodon writes for one link (the display part without the scheme)."""
    scheme, _, rest = url.partition("://")
    shown = rest if display is None else display
    css = "ellipsis" if hidden else ""
    href = url.replace("&", "&amp;")
    return (
        f'<a href="{href}" target="_blank" rel="nofollow noopener noreferrer" translate="no">'
        f'<span class="invisible">{scheme}://</span><span class="{css}">{shown}</span>'
        f'<span class="invisible">{hidden}</span></a>'
    )


def test_plain_text_is_one_paragraph() -> None:
    assert render_plain_text("hello world") == "<p>hello world</p>"


def test_unicode_passes_through() -> None:
    assert render_plain_text("héllo 🐦 日本語") == "<p>héllo 🐦 日本語</p>"


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ("<script>alert(1)</script>", "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"),
        ("fish & chips", "<p>fish &amp; chips</p>"),
        ("&amp; stays literal", "<p>&amp;amp; stays literal</p>"),
        ('say "hi"', "<p>say &#34;hi&#34;</p>"),
        ("it's", "<p>it&#39;s</p>"),
        ('<img src=x onerror="alert(1)">', "<p>&lt;img src=x onerror=&#34;alert(1)&#34;&gt;</p>"),
    ],
)
def test_everything_is_escaped(text: str, html: str) -> None:
    assert render_plain_text(text) == html


def test_paragraphs_and_line_breaks() -> None:
    assert render_plain_text("one\ntwo\n\nthree") == "<p>one<br />two</p><p>three</p>"


def test_windows_and_old_mac_newlines() -> None:
    assert render_plain_text("a\r\nb\r\n\r\nc\rd") == "<p>a<br />b</p><p>c<br />d</p>"


def test_runs_of_blank_lines_make_one_break_and_edges_are_trimmed() -> None:
    text = "\n\n  first  \n\n\n \n\t\nsecond\n\n"
    assert render_plain_text(text) == "<p>first</p><p>second</p>"


@pytest.mark.parametrize("text", ["", " ", "\n\n", " \r\n \t "])
def test_empty_text_is_empty_html(text: str) -> None:
    assert render_plain_text(text) == ""


def test_a_link() -> None:
    assert render_plain_text("see https://example.com/path now") == (
        f"<p>see {link('https://example.com/path')} now</p>"
    )


def test_http_links_and_query_strings() -> None:
    url = "http://ex.test/s?q=a&lang=en#top"
    assert render_plain_text(url) == f"<p>{link(url, display='ex.test/s?q=a&amp;lang=en#top')}</p>"


@pytest.mark.parametrize("tail", [".", ",", ";", ":", "!", "?", "...", "?!", '"', "'"])
def test_trailing_punctuation_stays_outside(tail: str) -> None:
    escaped_tail = tail.replace('"', "&#34;").replace("'", "&#39;")
    assert render_plain_text(f"go to https://example.com/a{tail}") == (
        f"<p>go to {link('https://example.com/a')}{escaped_tail}</p>"
    )


def test_punctuation_inside_a_url_is_kept() -> None:
    assert render_plain_text("https://example.com/a.b,c!d") == (
        f"<p>{link('https://example.com/a.b,c!d')}</p>"
    )


def test_parentheses_around_a_link() -> None:
    assert render_plain_text("(https://example.com/a)") == (
        f"<p>({link('https://example.com/a')})</p>"
    )


def test_balanced_parentheses_belong_to_the_link() -> None:
    url = "https://en.wikipedia.org/wiki/Bird_(disambiguation)"
    html = render_plain_text(f"(see {url}).")
    assert html == (
        f"<p>(see {link(url, display=url[8:8 + DISPLAY_URL_MAX], hidden=url[8 + DISPLAY_URL_MAX:])}"
        ").</p>"
    )
    assert 'href="https://en.wikipedia.org/wiki/Bird_(disambiguation)"' in html


def test_long_urls_get_the_ellipsis_span() -> None:
    rest = "example.com/" + "a" * 18 + "b" * 20
    url = f"https://{rest}"
    html = render_plain_text(url)
    shown, hidden = rest[:DISPLAY_URL_MAX], rest[DISPLAY_URL_MAX:]
    assert html == f"<p>{link(url, display=shown, hidden=hidden)}</p>"
    assert '<span class="ellipsis">example.com/aaaaaaaaaaaaaaaaaa</span>' in html
    assert '<span class="invisible">bbbbbbbbbbbbbbbbbbbb</span>' in html


def test_a_url_of_exactly_the_display_length_has_no_ellipsis() -> None:
    rest = "example.com/" + "x" * (DISPLAY_URL_MAX - len("example.com/"))
    assert len(rest) == DISPLAY_URL_MAX
    assert render_plain_text(f"https://{rest}") == f"<p>{link(f'https://{rest}')}</p>"


def test_links_stop_at_markup_and_quotes() -> None:
    html = render_plain_text('https://example.com/"><script>alert(1)</script>')
    assert html == (
        f"<p>{link('https://example.com/')}&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;</p>"
    )
    html = render_plain_text("https://example.com/x'onmouseover='alert(1)")
    assert 'href="https://example.com/x"' in html
    assert "onmouseover=&#39;alert(1)" in html


def test_several_links_and_line_breaks() -> None:
    html = render_plain_text("a https://one.test\nb https://two.test/x.\n\nhttps://three.test")
    assert html == (
        f"<p>a {link('https://one.test')}<br />b {link('https://two.test/x')}.</p>"
        f"<p>{link('https://three.test')}</p>"
    )


@pytest.mark.parametrize(
    "text",
    [
        "javascript:alert(1)",
        "javascript://example.com/%0Aalert(1)",
        "data:text/html,<script>alert(1)</script>",
        "ftp://example.com/file",
        "mailto:someone@example.com",
        "http://",
        "https:// spaced",
    ],
)
def test_only_http_urls_are_linked(text: str) -> None:
    html = render_plain_text(text)
    assert "<a " not in html
    assert "<script" not in html


def test_output_contains_only_our_own_tags() -> None:
    html = render_plain_text(
        "<b>x</b> <a href=\"javascript:alert(1)\">y</a> https://ok.test/?a=<i>\n\n<p>z</p>"
    )
    tags = set(re.findall(r"</?([a-zA-Z]+)", html))
    assert tags <= {"p", "br", "a", "span"}
    assert "javascript" not in "".join(re.findall(r'href="([^"]*)"', html))
