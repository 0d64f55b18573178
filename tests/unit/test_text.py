"""Terminal-safe text: every control, format and separator character shown escaped, never
obeyed; cuts and wraps never fall inside an escape; plain text passes unchanged."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mosmu_text

# What must never reach a terminal raw, listed here by code point (not by the module's own
# rule): C0 controls, DEL, C1 controls, bidi embeddings/overrides/isolates/marks, Arabic
# letter mark, line and paragraph separators, zero-width marks and BOM, surrogates.
FORBIDDEN = frozenset([*range(0x20), 0x7F, *range(0x80, 0xA0), *range(0x202A, 0x202F),
                       *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C, 0x2028, 0x2029, 0x200B,
                       0xFEFF, *range(0xD800, 0xE000)])

# (name, raw text, what the operator sees instead)
HOSTILE = [
    ("OSC window title, BEL", "\x1b]0;title\x07", "\\x1b]0;title\\x07"),
    ("clear screen", "\x1b[2J", "\\x1b[2J"),
    ("colour", "\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
    ("C1 CSI", "\x9b2J", "\\x9b2J"),
    ("C1 OSC", "\x9d0;t\x9c", "\\x9d0;t\\x9c"),
    ("NUL", "a\x00b", "a\\x00b"),
    ("backspace", "ok\x08\x08no", "ok\\x08\\x08no"),
    ("carriage return", "100%\roverwritten", "100%\\roverwritten"),
    ("DEL", "a\x7fb", "a\\x7fb"),
    ("bidi override RLO", "evil\u202etxt.exe", "evil\\u202etxt.exe"),
    ("bidi isolate", "\u2066x\u2069", "\\u2066x\\u2069"),
    ("bidi marks", "\u200e\u200f\u061c", "\\u200e\\u200f\\u061c"),
    ("line separator", "a\u2028b\u2029c", "a\\u2028b\\u2029c"),
    ("zero width, BOM", "a\u200bb\ufeff", "a\\u200bb\\ufeff"),
    ("lone surrogate", "bad\udc80byte", "bad\\udc80byte"),
    ("tag character", "x\U000e0041", "x\\U000e0041"),
]
PLAIN = ["", "apt failed", "nova-common 1:2015.1.0-1~u14.04+mos19664", "Grüße ☃ 😀 日本",
         "C:\\path\\x1b is text", "  two  spaces  "]


def _forbidden(text, allowed=""):
    return [hex(ord(c)) for c in text if ord(c) in FORBIDDEN and c not in allowed]


# -- escaping -------------------------------------------------------------------------------

@pytest.mark.parametrize("name, raw, shown", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_every_unsafe_character_is_shown_escaped(name, raw, shown):
    for newlines in mosmu_text.NEWLINES:
        out = mosmu_text.safe(raw, newlines=newlines)
        assert out == shown, name
        assert not _forbidden(out)
        out.encode("utf-8")                       # printable: a lone surrogate would raise


@pytest.mark.parametrize("text", PLAIN)
def test_plain_text_passes_unchanged(text):
    assert mosmu_text.safe(text) == text


@pytest.mark.parametrize("value, shown", [(None, "None"), (42, "42"), (b"\x1b", "b'\\x1b'"),
                                          (ValueError("E: \x1b[2J"), "E: \\x1b[2J")])
def test_a_value_that_is_not_text_is_shown_as_its_str(value, shown):
    assert mosmu_text.safe(value) == shown


@pytest.mark.parametrize("newlines, shown", [
    ("escape", "a\\nb\\tc  d\\r\\n e\\rf"),
    ("space", "a b c d e\\rf"),
    ("keep", "a\nb\tc  d\n e\\rf"),
])
def test_line_breaks_are_escaped_in_a_cell_a_space_in_prose_kept_in_a_block(newlines, shown):
    assert mosmu_text.safe("a\nb\tc  d\r\n e\rf", newlines=newlines) == shown


def test_prose_strips_its_ends():
    assert mosmu_text.safe(" \n apt\n\n failed \t", newlines="space") == "apt failed"


def test_an_unknown_newlines_mode_is_refused():
    with pytest.raises(ValueError, match="newlines='raw' is not one of escape, space, keep"):
        mosmu_text.safe("x", newlines="raw")


# -- cutting --------------------------------------------------------------------------------

@pytest.mark.parametrize("name, raw, shown", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_a_cut_falls_between_escapes_never_inside_one(name, raw, shown):
    text = "ab" + raw + raw
    pieces = [mosmu_text.escape_char(c) for c in text]
    whole = "".join(pieces)
    prefixes = {"".join(pieces[:k]) for k in range(len(pieces) + 1)}
    for width in range(len(whole) + 3):
        out = mosmu_text.safe(text, width)
        assert len(out) <= width
        if len(whole) <= width:
            assert out == whole
        elif width:
            assert out.endswith(mosmu_text.ELLIPSIS)
            assert out[:-1] in prefixes, (name, width, out)
            assert len(out[:-1]) >= width - 1 - max(len(p) for p in pieces) + 1


def test_a_cut_of_plain_text_is_exact():
    assert mosmu_text.safe("x" * 118, 118) == "x" * 118
    assert mosmu_text.safe("x" * 119, 118) == "x" * 117 + "…"
    assert mosmu_text.safe("abc", 1) == "…" and mosmu_text.safe("abc", 0) == ""


def test_a_very_long_text_is_cut_without_reading_it_all():
    out = mosmu_text.safe("\x1b[2J" + "A" * 10_000_000, 20, newlines="space")
    assert out == "\\x1b[2J" + "A" * 12 + "…"


def test_a_character_or_a_surrogate_pair_is_never_split():
    """An astral character is one code point (kept whole); a surrogate pair that reached a
    str as two code points is two escapes, and the cut keeps or drops each whole."""
    assert mosmu_text.safe("ab😀😀x", 4) == "ab😀…"
    pair = "ab\ud83d\ude00"
    assert mosmu_text.safe(pair) == "ab\\ud83d\\ude00"
    for width, shown in [(8, "ab…"), (9, "ab\\ud83d…"), (13, "ab\\ud83d…"),
                         (14, "ab\\ud83d\\ude00")]:
        out = mosmu_text.safe(pair, width)
        assert out == shown and out.encode("utf-8")


# -- wrapping -------------------------------------------------------------------------------

REASONS = [
    "E: Failed to fetch http://127.0.0.1:50397/.snapshots/mos-repo-20250101/ubuntu/pool/main/"
    "n/nova/nova-common_2015.1.0-1~u14.04+mos19664_all.deb 404 Not Found; run salt-run "
    "mosmu.sync verify=True mos_version=8.0",
    "node-3 did not answer saltutil.sync_all: Minion did not return. [No response] " * 4,
    "dpkg hook: " + "\x1b]0;title\x07\x1b[2J" * 30,
    "x" * 400,
    "line one\nline two\r\n\tline three " + "word " * 60,
]


@pytest.mark.parametrize("reason", REASONS)
@pytest.mark.parametrize("width", [40, 80, 118])
def test_wrap_keeps_every_character_and_every_escape_whole(reason, width):
    lines = mosmu_text.wrap(reason, width, indent="    ", first="  ")
    assert all(len(line) <= width for line in lines)
    assert lines[0].startswith("  ") and all(line.startswith("    ") for line in lines[1:])
    assert not any(_forbidden(line) for line in lines)
    whole = mosmu_text.safe(reason, newlines="space")
    assert "".join(lines).replace(" ", "") == whole.replace(" ", "")
    atoms = [mosmu_text.escape_char(c) for c in reason if mosmu_text.escape_char(c) != c]
    for atom in set(atoms) - {"\\n", "\\t"}:
        assert sum(line.count(atom) for line in lines) == whole.count(atom)


def test_wrap_breaks_at_spaces():
    assert mosmu_text.wrap("aaa bbb ccc", 9, indent="  ") == ["aaa bbb", "  ccc"]
    assert mosmu_text.wrap("", 9, first="> ") == ["> "]


# -- any input ------------------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=60),
       width=st.one_of(st.none(), st.integers(min_value=0, max_value=70)),
       newlines=st.sampled_from(mosmu_text.NEWLINES))
def test_any_text_comes_out_printable_and_within_its_width(text, width, newlines):
    out = mosmu_text.safe(text, width, newlines=newlines)
    assert not _forbidden(out, allowed="\n\t" if newlines == "keep" else "")
    out.encode("utf-8")
    if width is not None:
        assert len(out) <= width
