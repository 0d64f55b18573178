"""Text that is safe to print on a terminal: foreign bytes shown escaped, never obeyed.

Everything mosmu prints that came from somewhere else (Nailgun, a node, apt/yum, rsync, gpg)
goes through :func:`safe` first: control characters (C0 such as ESC, BEL, CR, backspace; DEL;
C1 such as CSI ``\\x9b``), Unicode format characters (bidi overrides and isolates, zero-width
marks, BOM), line and paragraph separators and lone surrogates are shown as a visible escape
(``\\x1b``, ``\\u202e``, ``\\udc80``) instead of reaching the terminal, and a cut to a width
never falls inside an escape. :func:`wrap` lays such text out over several lines.

Only the rendering is escaped: the data a runner returns (``--out=json``) stays as it is.
A backslash already in the text is left alone. Standard library only, so the outputter can
load this module on its own.
"""

import re
import unicodedata

ELLIPSIS = "…"
NEWLINES = ("escape", "space", "keep")

_UNSAFE_CATEGORIES = frozenset(("Cc", "Cf", "Cs", "Zl", "Zp"))
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}
_CANDIDATE_RE = re.compile(r"[^\x20-\x7e]")             # anything but printable ASCII
_BLANKS_RE = re.compile(r"(?:[ \t\n]|\r\n)+")           # what a space may stand for
_PIECE_RE = re.compile(r"[\x20-\x7e]+|[^\x20-\x7e]")     # runs of plain text, single others
# an escape safe() made is one atom of a word (a literal backslash that looks like one too)
_ATOM_RE = re.compile(r"\\(?:x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8}|[ntr])|.", re.DOTALL)


def escape_char(char):
    """The escape shown for one character, or the character itself when it is safe.

    :param char: one character
    :return: ``\\n \\t \\r`` for those, ``\\xNN`` / ``\\uNNNN`` / ``\\UNNNNNNNN`` for other
        control, format, line/paragraph separator and surrogate characters; else ``char``
    """
    if char in _NAMED:
        return _NAMED[char]
    if " " <= char <= "~" or unicodedata.category(char) not in _UNSAFE_CATEGORIES:
        return char
    point = ord(char)
    if point < 0x100:
        return f"\\x{point:02x}"
    if point < 0x10000:
        return f"\\u{point:04x}"
    return f"\\U{point:08x}"


def _pieces(text, newlines):
    """The text as atoms a cut may fall between: single safe characters are merged into runs
    of plain ASCII (cuttable anywhere), each escape is one atom (never cut)."""
    for match in _PIECE_RE.finditer(text):
        piece = match.group()
        plain = len(piece) > 1 or " " <= piece <= "~"
        if plain or (newlines == "keep" and piece in ("\n", "\t")):
            yield piece, False
        else:
            shown = escape_char(piece)
            yield shown, shown != piece


def _prepare(value, newlines):
    if newlines not in NEWLINES:
        raise ValueError(f"newlines={newlines!r} is not one of {', '.join(NEWLINES)}")
    text = value if isinstance(value, str) else str(value)
    if newlines == "space":
        text = _BLANKS_RE.sub(" ", text).strip(" ")
    elif newlines == "keep":
        text = text.replace("\r\n", "\n")
    return text


def safe(value, width=None, *, newlines="escape"):
    """``value`` as text that cannot act on a terminal, optionally cut to ``width``.

    :param value: anything; not a string: its ``str()``
    :param width: at most this many characters, the last one ``…`` when cut; None: whole.
        A cut never falls inside an escape (the escape is dropped whole instead).
    :param newlines: how line breaks and tabs are shown: ``escape`` (``\\n``, ``\\t``: a
        one-line field such as a table cell), ``space`` (runs of spaces, tabs and newlines,
        ``\\r\\n`` included, become one space, ends stripped: one-line prose such as a
        comment or a reason), ``keep`` (newlines and tabs pass: a multi-line block). A lone
        ``\\r`` is always shown escaped.
    :return: a string of printable characters (plus ``\\n``/``\\t`` with ``keep``)
    :raises ValueError: for an unknown ``newlines``
    """
    text = _prepare(value, newlines)
    if width is not None and len(text) > width:
        text = text[:width + 1]        # every character shows as at least one: enough to cut
    if not _CANDIDATE_RE.search(text) and (width is None or len(text) <= width):
        return text
    if width is None:
        return "".join(piece for piece, _escaped in _pieces(text, newlines))
    return _cut(list(_pieces(text, newlines)), width)


def _cut(pieces, width):
    if sum(len(piece) for piece, _escaped in pieces) <= width:
        return "".join(piece for piece, _escaped in pieces)
    room, out = max(width - 1, 0), []
    for piece, escaped in pieces:
        if len(piece) <= room:
            out.append(piece)
            room -= len(piece)
            continue
        if not escaped:
            out.append(piece[:room])
        break
    return "".join(out) + ELLIPSIS if width else ""


def wrap(value, width, indent="", first=""):
    """``value`` made safe (as one-line prose) and wrapped over lines of at most ``width``.

    Nothing is cut: lines break at spaces; a word longer than a line is split between
    characters, never inside an escape.

    :param value: anything (see :func:`safe`)
    :param width: the line width
    :param indent: the prefix of every line but the first
    :param first: the prefix of the first line
    :return: a list of lines, at least one
    """
    lines, line, start = [], first, len(first)
    for word in safe(value, newlines="space").split(" "):
        gap = " " if len(line) > start else ""
        if len(line) + len(gap) + len(word) <= width:
            line += gap + word
            continue
        if len(line) > start:
            lines.append(line)
            line, start = indent, len(indent)
        if len(line) + len(word) <= width:
            line += word
            continue
        for atom in _ATOM_RE.findall(word):
            if len(line) + len(atom) > width and len(line) > start:
                lines.append(line)
                line, start = indent, len(indent)
            line += atom
    lines.append(line)
    return lines
