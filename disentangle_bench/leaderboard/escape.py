"""Escaping of untrusted text (names, hyperparameters, file names from submissions).

HTML: ``html.escape`` with quotes, after replacing control and format characters (bidirectional
overrides, zero-width characters) with a visible replacement. Markdown (GitHub-flavoured, in table
cells): the same cleaning, line breaks become spaces, ``&``, ``<`` and ``>`` become character
references and every other ASCII punctuation character that Markdown gives a meaning to is
backslash-escaped (CommonMark 0.31, section 2.4: any ASCII punctuation may be escaped), so that
no name can open a link, an image, code, emphasis, a raw HTML tag or a new table cell.
"""

from __future__ import annotations

import html
import unicodedata

REPLACEMENT = "\N{REPLACEMENT CHARACTER}"
#: Backslash-escaped in Markdown; ``&<>`` become entities instead.
MARKDOWN_PUNCTUATION = frozenset("\\`*_{}[]()#+-.!|~\"'$%,/:;=?@^")


def clean(text: object, limit: int | None = None) -> str:
    """``text`` as one line: line breaks and tabs become spaces, other control and format
    characters the replacement character; cut to ``limit`` characters with an ellipsis."""
    result = []
    for char in str(text):
        if char in "\r\n\t\v\f\x85\u2028\u2029":
            result.append(" ")
        elif unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn"):
            result.append(REPLACEMENT)
        else:
            result.append(char)
    cleaned = "".join(result)
    if limit is not None and len(cleaned) > limit:
        cleaned = cleaned[: limit - 1] + "\N{HORIZONTAL ELLIPSIS}"
    return cleaned


def escape_html(text: object, limit: int | None = None) -> str:
    """Text safe in HTML (and SVG) element content and quoted attribute values."""
    return html.escape(clean(text, limit), quote=True)


def escape_markdown(text: object, limit: int | None = None) -> str:
    """Text safe in a Markdown paragraph or table cell."""
    out = []
    for char in clean(text, limit):
        if char == "&":
            out.append("&amp;")
        elif char == "<":
            out.append("&lt;")
        elif char == ">":
            out.append("&gt;")
        elif char in MARKDOWN_PUNCTUATION:
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)
