"""Defects found in review: each test fails today and pins the behaviour once fixed."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import Ws, git, run_process
from factory import Space, make_space

FAMILY = "\U0001F468\u200d\U0001F469\u200d\U0001F467\u200d\U0001F466"  # one grapheme, 25 UTF-8 bytes


@pytest.fixture
def space(tmp_path: Path) -> Space:
    return make_space(tmp_path)


def where(space: Space) -> list[tuple[str, int, int, str, str]]:
    return [(f.file, f.line, f.column, f.code, f.severity) for f in space.findings()]


# --- line and column numbers -------------------------------------------------------------------

def test_voice_hit_in_flow_variant_text_has_its_column_in_the_file(space: Space) -> None:
    space.write("policies/voice.yaml", "banned_phrases: [synergy]\n")
    space.post("a", 'channels: [bsky]\nvariants:\n  bsky: { text: "Big synergy" }', "Fine.")
    # Line 4 is `  bsky: { text: "Big synergy" }`: 'synergy' starts in column 22, not 5.
    assert where(space) == [("content/posts/a.md", 4, 22, "voice.banned-phrase", "error")]


def test_voice_hit_in_block_variant_text_counts_the_indentation(space: Space) -> None:
    space.write("policies/voice.yaml", "banned_phrases: [synergy]\n")
    space.post("a", "channels: [bsky]\nvariants:\n  bsky:\n    text: |\n      Big synergy\n", "Fine.")
    # Line 6 is `      Big synergy`: six spaces of YAML indentation come before the text.
    assert where(space) == [("content/posts/a.md", 6, 11, "voice.banned-phrase", "error")]


def test_voice_column_counts_leading_spaces_of_the_first_line(space: Space) -> None:
    space.write("policies/voice.yaml", "banned_phrases: [synergy]\n")
    space.post("a", "channels: [bsky]", "  Big synergy")
    assert where(space) == [("content/posts/a.md", 4, 7, "voice.banned-phrase", "error")]


# --- front matter --------------------------------------------------------------------------------

def test_closing_front_matter_line_with_trailing_space_is_accepted(space: Space) -> None:
    # Invisible trailing whitespace after '---' (Jekyll and Hugo accept it) must not turn a
    # valid post into "front matter is not closed".
    space.write("content/posts/a.md", "---\nchannels: [bsky]\n--- \nHello world.\n")
    assert where(space) == []


# --- voice policy --------------------------------------------------------------------------------

def test_disclosure_hashtag_is_not_satisfied_by_a_longer_hashtag(space: Space) -> None:
    space.write("policies/voice.yaml", "disclosure:\n  any_of: ['#ad']\n")
    space.post("a", "channels: [bsky]\nsponsored: true", "Join our #adventure trip!")
    assert [(f.file, f.line, f.code) for f in space.findings()] == [
        ("content/posts/a.md", 3, "voice.missing-disclosure"),
    ]


def test_banned_punctuation_phrase_matches_right_after_a_word(space: Space) -> None:
    # The scaffold's voice policy bans "!!!"; it is always written right after a word.
    space.write("policies/voice.yaml", "banned_phrases:\n  - {phrase: '!!!', severity: warning}\n")
    space.post("a", "channels: [bsky]", "Great news!!! Really.")
    assert where(space) == [("content/posts/a.md", 4, 11, "voice.banned-phrase", "warning")]


# --- text length ---------------------------------------------------------------------------------

def test_bluesky_text_over_3000_utf8_bytes_is_too_long(space: Space) -> None:
    # app.bsky.feed.post text: maxGraphemes 300 AND maxLength 3000 (UTF-8 bytes); the PDS
    # refuses this record although it is only 150 graphemes.
    space.post("a", "channels: [bsky]", FAMILY * 150)
    assert [(f.file, f.line, f.code) for f in space.findings()] == [
        ("content/posts/a.md", 4, "post.too-long"),
    ]


# --- --changed-since -----------------------------------------------------------------------------

def test_changed_since_keeps_files_with_non_ascii_names(ws: Ws) -> None:
    # git quotes such names ("tipp-f\303\274r-euch.md") unless asked for -z output.
    git(ws.root, "init", "-q")
    git(ws.root, "add", "-A")
    git(ws.root, "commit", "-q", "-m", "workspace")
    rel = ws.post("de/tipp-für-euch", "channels: [bsky-dee]", "Hallo!\n")
    outcome = ws.validate("--changed-since", "HEAD")
    assert outcome.code == 1
    assert outcome.where() == [(rel, 2, 12, "post.unknown-channel")]


# --- exit codes ----------------------------------------------------------------------------------

def test_calendar_whose_default_end_passes_the_last_year_stops_at_it(ws: Ws) -> None:
    outcome = ws.proc("calendar", "--from", "9000-12-15")
    assert outcome.code == 0, outcome.output
    assert outcome.stdout.splitlines()[0] == "Acme Community: 9000-12-15 to 9000-12-31 (Europe/Berlin)"
    assert "internal error" not in outcome.stderr


def test_init_below_a_file_exits_2(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("not a folder\n", encoding="utf-8")
    outcome = run_process(["init", str(tmp_path / "afile" / "sub")])
    assert outcome.code == 2, outcome.output
    assert "internal error" not in outcome.stderr


# --- SPEC §3: a retracted post that was never published ------------------------------------------

def test_retracted_post_that_was_never_published_is_a_warning(space: Space) -> None:
    space.post("a", "channels: [bsky]\nstatus: retracted", "Oops.")
    findings = space.findings()
    assert [(f.file, f.line, f.severity) for f in findings] == [("content/posts/a.md", 3, "warning")]
    assert findings[0].code.startswith("post.")
