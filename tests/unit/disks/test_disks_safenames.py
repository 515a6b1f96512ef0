"""safenames: every guest name becomes a Windows-safe relative path, and every change is reported."""

from __future__ import annotations

import pytest

from vmrestore.disks.safenames import (
    MAX_COMPONENT,
    safe_component,
    safe_relative_path,
    windows_long_path,
)


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("report.xlsx", "report.xlsx"),
        ("Zürich – notes.txt", "Zürich – notes.txt"),
        ("..\\..\\evil.txt", ".._.._evil.txt"),
        ("..", "__"),
        (".", "_"),
        ("...", "___"),
        ("", "_"),
        ("CON", "_CON"),
        ("con", "_con"),
        ("CON.txt", "_CON.txt"),
        ("nul.tar.gz", "_nul.tar.gz"),
        ("NUL .txt", "_NUL .txt"),
        ("COM1", "_COM1"),
        ("lpt9.log", "_lpt9.log"),
        ("COM¹", "_COM¹"),
        ("CONIN$", "_CONIN$"),
        ("CONSOLE", "CONSOLE"),
        ("COM10", "COM10"),
        ("a:b", "a_b"),
        ("C:", "C_"),
        ('q"u<o>t|e?s*', "q_u_o_t_e_s_"),
        ("tab\there", "tab_here"),
        ("new\nline", "new_line"),
        ("bell\x07", "bell_"),
        ("trailing.", "trailing_"),
        ("trailing ", "trailing_"),
        ("trailing. .", "trailing___"),
        (" leading space", " leading space"),
        (".hidden", ".hidden"),
        ("bad\udcffbyte", "bad_byte"),
    ],
)
def test_safe_component(name: str, safe: str) -> None:
    out, notes = safe_component(name)
    assert out == safe
    assert bool(notes) == (name != safe)


def test_long_component_is_shortened_keeps_extension_and_stays_unique() -> None:
    a, notes = safe_component("a" * 300 + ".docx")
    b, _ = safe_component("a" * 299 + "b.docx")
    assert len(a) <= MAX_COMPONENT and a.endswith(".docx")
    assert a != b
    assert any("255" in n for n in notes)


def test_long_component_counts_utf8_bytes_too() -> None:
    out, _ = safe_component("東" * 200)  # 200 UTF-16 units but 600 UTF-8 bytes
    assert len(out.encode("utf-8")) <= MAX_COMPONENT


def test_exactly_255_is_kept() -> None:
    name = "x" * 255
    assert safe_component(name) == (name, [])


@pytest.mark.parametrize(
    ("guest", "parts"),
    [
        ("/Users/alice/a.txt", ("Users", "alice", "a.txt")),
        ("Users//alice/", ("Users", "alice")),
        ("/../../etc/passwd", ("__", "__", "etc", "passwd")),
        ("//server/share/x", ("server", "share", "x")),
        ("C:/Windows/win.ini", ("C_", "Windows", "win.ini")),
        ("/a/./b", ("a", "_", "b")),
        ("\\\\?\\C:\\x", ("____C__x",)),
    ],
)
def test_safe_relative_path_never_climbs(guest: str, parts: tuple[str, ...]) -> None:
    result = safe_relative_path(guest)
    assert result.parts == parts
    assert ".." not in result.parts and "." not in result.parts
    assert not result.path.startswith("/")


def test_notes_name_the_original() -> None:
    result = safe_relative_path("/docs/CON")
    assert result.renamed
    assert result.notes == ("'CON' → '_CON': reserved device name CON prefixed",)
    assert not safe_relative_path("/docs/fine.txt").renamed


def test_windows_long_path_prefix() -> None:
    short = "C:\\restore\\a.txt"
    assert windows_long_path(short) == short
    long = "C:\\restore\\" + "d" * 300
    assert windows_long_path(long) == "\\\\?\\" + long
    unc = "\\\\server\\share\\" + "d" * 300
    assert windows_long_path(unc) == "\\\\?\\UNC\\server\\share\\" + "d" * 300
    assert windows_long_path("\\\\?\\" + long) == "\\\\?\\" + long
