"""SPEC: hostile input gets a finding (exit 1) or a clean exit 2 - never a hang, a crash of
the interpreter or a Python traceback.

Every case pins the finding code, file, line and column. The cases that could take the
interpreter down (deep nesting) or never end (alias bombs, regex blow-ups) also run in a
real subprocess with a timeout, so a segfault is a negative return code and a hang is a
failed test, not a stuck test run.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest

from conftest import Outcome, Where, Ws, invoke, run_process

PNG = (Path(__file__).parents[1] / "src/cmops/scaffold/workspace/content/media/winter.png").read_bytes()
MB = 1024 * 1024


def billion_laughs(width: int = 9) -> list[str]:
    """Nine anchors, each a list of nine aliases to the one before: 9**9 values expanded."""
    names = "abcdefghi"
    lines = [f"a: &a [{', '.join(['lol'] * width)}]"]
    for previous, name in itertools.pairwise(names):
        lines.append(f"{name}: &{name} [{', '.join([f'*{previous}'] * width)}]")
    return lines


def only(outcome: Outcome, code: int) -> list[Where]:
    assert outcome.code == code, f"exit {outcome.code}, expected {code}:\n{outcome.output}"
    return outcome.where()


# --- alias bombs ------------------------------------------------------------------------------

def test_alias_bomb_in_post_front_matter_is_too_complex_and_quick(ws: Ws) -> None:
    # Line 1 '---', 2 channels, 3..11 anchors a..i. Expanding 'f' passes the limit while it
    # repeats *e, and the finding points at the anchor being expanded: 'e' on line 7.
    rel = ws.post("bomb", "\n".join(["channels: [news]", *billion_laughs()]))
    started = time.monotonic()
    outcome = ws.validate()
    elapsed = time.monotonic() - started
    assert only(outcome, 1) == [(rel, 7, 4, "yaml.too-complex")]
    assert elapsed < 5, f"an alias bomb took {elapsed:.1f} s"


def test_alias_bomb_in_post_as_subprocess(ws: Ws) -> None:
    rel = ws.post("bomb", "\n".join(["channels: [news]", *billion_laughs()]))
    outcome = ws.proc("validate", "--format", "json", timeout=20)
    assert only(outcome, 1) == [(rel, 7, 4, "yaml.too-complex")]


def test_alias_bomb_in_settings_is_too_complex(ws: Ws) -> None:
    settings = ws.read("cmops.yaml")
    ws.write("cmops.yaml", "\n".join(billion_laughs()) + "\n" + settings)
    started = time.monotonic()
    outcome = ws.validate()
    assert time.monotonic() - started < 5
    assert outcome.code == 1
    assert [w for w in outcome.where() if w[0] == "cmops.yaml"] == [
        ("cmops.yaml", 5, 4, "yaml.too-complex")
    ]


def test_unusable_settings_are_one_finding_not_a_cascade(ws: Ws) -> None:
    """With cmops.yaml unusable, nothing else can know the channels: posts skip channel
    checks then, and so must every other check. Otherwise one broken line in cmops.yaml
    buries its own finding under a page of false 'unknown channel' errors."""
    settings = ws.read("cmops.yaml")
    ws.write("cmops.yaml", "\n".join(billion_laughs()) + "\n" + settings)
    assert ws.findings() == [("cmops.yaml", 5, 4, "yaml.too-complex")]


@pytest.mark.parametrize("command", [["preview", "de/2026-12-01-winter-launch"], ["calendar"]])
def test_commands_other_than_validate_stop_with_exit_2_on_a_settings_bomb(
    ws: Ws, command: list[str]
) -> None:
    settings = ws.read("cmops.yaml")
    ws.write("cmops.yaml", "\n".join(billion_laughs()) + "\n" + settings)
    outcome = ws.proc(*command, timeout=20)
    assert outcome.code == 2
    assert "cmops.yaml has problems" in outcome.stderr
    assert "cmops.yaml:5:4: error [yaml.too-complex]" in outcome.stderr


# --- huge, binary and mis-encoded files ------------------------------------------------------

def _sparse(path: Path, head: bytes, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        handle.write(head)
        handle.truncate(size)


def test_50_mb_post_is_too_large_at_line_1(ws: Ws) -> None:
    rel = "content/posts/huge.md"
    _sparse(ws.path(rel), b"---\nchannels: [news]\n---\n", 50 * MB)
    outcome = ws.validate()
    assert only(outcome, 1) == [(rel, 1, 1, "file.too-large")]
    [finding] = outcome.json()
    assert finding["message"].startswith("file is 50.0 MB; cmops reads text files up to 2 MB")


def test_50_mb_calendar_is_too_large_at_line_1(ws: Ws) -> None:
    rel = "content/calendars/huge.yaml"
    _sparse(ws.path(rel), b"campaigns:\n", 50 * MB)
    assert only(ws.validate(), 1) == [(rel, 1, 1, "file.too-large")]


def test_png_named_md_is_binary(ws: Ws) -> None:
    # The first NUL byte follows the PNG signature's two line feeds: line 3.
    rel = "content/posts/picture.md"
    ws.write_bytes(rel, PNG)
    assert only(ws.validate(), 1) == [(rel, 3, 1, "file.binary")]


def test_nul_byte_in_post_is_binary_at_its_line(ws: Ws) -> None:
    rel = "content/posts/nul.md"
    ws.write_bytes(rel, b"---\nchannels: [news]\n---\nfine\n\x89\x00\xff\xfe garbage\n")
    assert only(ws.validate(), 1) == [(rel, 5, 1, "file.binary")]


def test_invalid_utf8_in_post_names_line_and_column(ws: Ws) -> None:
    # Latin-1 "Grüße": 0xfc at line 4, column 3 (columns count bytes before the bad one).
    rel = "content/posts/latin1.md"
    ws.write_bytes(rel, b"---\nchannels: [news]\n---\nGr\xfc\xdfe aus Berlin\n")
    outcome = ws.validate()
    assert only(outcome, 1) == [(rel, 4, 3, "file.encoding")]
    assert "0xfc" in outcome.json()[0]["message"]


def test_invalid_utf8_column_counts_characters_like_every_other_finding(ws: Ws) -> None:
    # Valid "Grüße " is 6 characters (8 bytes); the stray 0xff is the 7th character on the line.
    # Editors and GitHub annotations count characters, as the YAML findings do.
    rel = "content/posts/mixed.md"
    ws.write_bytes(rel, "---\nchannels: [news]\n---\nGrüße ".encode() + b"\xff\n")
    assert only(ws.validate(), 1) == [(rel, 4, 7, "file.encoding")]


def test_invalid_utf8_in_settings_names_line_and_column(ws: Ws) -> None:
    settings = ws.read("cmops.yaml").encode("utf-8")
    ws.write_bytes("cmops.yaml", settings.replace(b"name: Acme Community", b"name: Acme Gr\xfc\xdfe"))
    outcome = ws.validate()
    assert outcome.code == 1
    assert [w for w in outcome.where() if w[0] == "cmops.yaml"] == [("cmops.yaml", 4, 14, "file.encoding")]


def test_windows_line_endings_and_bom_are_not_hostile(ws: Ws) -> None:
    text = "\ufeff---\r\nchannels: [news]\r\npublish_at: 2026-12-02 09:30\r\n---\r\nHello from Windows.\r\n"
    ws.write_bytes("content/posts/windows.md", text.encode("utf-8"))
    outcome = ws.validate()
    assert (outcome.code, outcome.where()) == (0, [])


# --- nesting ----------------------------------------------------------------------------------

def test_100000_flow_brackets_are_too_deep_without_crashing(ws: Ws) -> None:
    # The mapping is level 1, so the 64th '[' opens level 65: column 4 + 63 = 67.
    rel = ws.post("deep", "channels: [news]\nx: " + "[" * 100_000)
    outcome = ws.proc("validate", "--format", "json", timeout=30)
    assert only(outcome, 1) == [(rel, 3, 67, "yaml.too-deep")]


def test_100000_block_sequence_levels_are_too_deep_without_crashing(ws: Ws) -> None:
    # '- - - - ...' starting at column 3 of line 4: the 64th '- ' is at column 3 + 2 * 63.
    rel = ws.post("deep", "channels: [news]\nx:\n  " + "- " * 100_000 + "end")
    outcome = ws.proc("validate", "--format", "json", timeout=30)
    assert only(outcome, 1) == [(rel, 4, 129, "yaml.too-deep")]


def test_deep_nesting_in_settings_is_too_deep_without_crashing(ws: Ws) -> None:
    settings = ws.read("cmops.yaml")
    ws.write("cmops.yaml", settings + "deep: " + "{a: " * 100_000 + "\n")
    outcome = ws.proc("validate", "--format", "json", timeout=30)
    assert outcome.code == 1
    assert [w for w in outcome.where() if w[0] == "cmops.yaml"] == [
        ("cmops.yaml", 41, 7 + 4 * 63, "yaml.too-deep")
    ]


@pytest.mark.parametrize("brackets", [63, 64, 65])
def test_depth_limit_does_not_depend_on_how_many_brackets_the_file_has(ws: Ws, brackets: int) -> None:
    """A small document is depth-checked while it is built, a large one by a pre-scan of its
    events. Both must draw the line at the same depth: a comment full of brackets must not
    change whether the same data is accepted."""
    data = "channels: [news]\nx: " + "[" * brackets + "]" * brackets
    small = ws.post("small", data, "Small.\n")
    padded = ws.post("padded", data + "\n# " + "[" * 6000, "Padded.\n")
    found = ws.findings()
    assert [w[1:] for w in found if w[0] == small] == [w[1:] for w in found if w[0] == padded]


# --- media paths ----------------------------------------------------------------------------

MEDIA_POST = """\
channels: [news]
media:
  - alt: Something that must never be uploaded
    path: {path}
"""


@pytest.mark.parametrize("path", [
    "../../../../etc/passwd",
    "../../../outside.png",
    "/../../../etc/passwd",
    "'C:\\Windows\\win.ini'",
    "'..\\..\\..\\etc\\passwd'",
])
def test_media_path_outside_workspace_is_reported_at_the_path_line(ws: Ws, path: str) -> None:
    rel = ws.post("evil", MEDIA_POST.format(path=path))
    outcome = ws.validate()
    assert only(outcome, 1) == [(rel, 5, 11, "media.outside-workspace")]


def test_leading_slash_means_workspace_root_not_host_root(ws: Ws) -> None:
    """'/…' is documented as relative to the workspace: '/etc/passwd' is the workspace's own
    etc/passwd (missing), never the host's."""
    rel = ws.post("evil", MEDIA_POST.format(path="/etc/passwd"))
    outcome = ws.validate()
    assert only(outcome, 1) == [(rel, 5, 11, "media.missing")]
    assert outcome.json()[0]["message"] == "etc/passwd does not exist"


def test_media_symlink_to_a_file_outside_the_workspace(ws: Ws, tmp_path: Path) -> None:
    secret = tmp_path / "outside" / "secret.png"
    secret.parent.mkdir()
    secret.write_bytes(PNG)
    ws.path("content/media/escape.png").symlink_to(secret)
    rel = ws.post("evil", MEDIA_POST.format(path="../media/escape.png"))
    outcome = ws.validate()
    assert only(outcome, 1) == [(rel, 5, 11, "media.outside-workspace")]


def test_media_under_a_symlinked_folder_outside_the_workspace(ws: Ws, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.png").write_bytes(PNG)
    ws.path("content/media/linked").symlink_to(outside, target_is_directory=True)
    rel = ws.post("evil", MEDIA_POST.format(path="../media/linked/secret.png"))
    assert only(ws.validate(), 1) == [(rel, 5, 11, "media.outside-workspace")]


# --- daylight saving time -------------------------------------------------------------------

def test_local_time_in_the_spring_gap_is_nonexistent(ws: Ws) -> None:
    # Both channels are in Europe/Berlin: one problem, one finding.
    rel = ws.post("spring", "channels: [bsky-de, masto]\npublish_at: 2026-03-29 02:30")
    outcome = ws.validate()
    assert only(outcome, 1) == [(rel, 3, 13, "time.nonexistent")]
    assert outcome.json()[0]["message"].startswith(
        "bsky-de: 2026-03-29 02:30 does not exist in Europe/Berlin")


def test_local_time_nonexistent_only_in_the_channel_zone_that_has_the_gap(ws: Ws) -> None:
    # New York springs forward on 8 March 2026; Berlin does not.
    rel = ws.post("spring-us", "channels: [bsky-de, bsky-us]\npublish_at: 2026-03-08 02:30")
    outcome = ws.validate()
    assert only(outcome, 1) == [(rel, 3, 13, "time.nonexistent")]
    assert outcome.json()[0]["message"].startswith("bsky-us: 2026-03-08 02:30 does not exist")


def test_local_time_in_the_autumn_overlap_is_ambiguous(ws: Ws) -> None:
    rel = ws.post("autumn", "channels: [bsky-de]\npublish_at: 2026-10-25 02:30")
    outcome = ws.validate()
    assert only(outcome, 1) == [(rel, 3, 13, "time.ambiguous")]
    message = outcome.json()[0]["message"]
    assert "2026-10-25T02:30+02:00" in message
    assert "2026-10-25T02:30+01:00" in message


def test_dst_problem_in_a_variant_points_at_the_variant_time(ws: Ws) -> None:
    rel = ws.post("variant", """\
        channels: [bsky-de]
        variants:
          bsky-de:
            publish_at: 2026-10-25 02:30
    """)
    assert only(ws.validate(), 1) == [(rel, 5, 17, "time.ambiguous")]


def test_dst_gap_in_a_calendar_blackout(ws: Ws) -> None:
    rel = "content/calendars/spring.yaml"
    ws.write(rel, "blackouts:\n  - name: Spring\n    start: 2026-03-29 02:15\n    end: 2026-03-30\n")
    assert only(ws.validate(), 1) == [(rel, 3, 12, "time.nonexistent")]


# --- time zones -----------------------------------------------------------------------------

BAD_ZONES = ["Mars/Olympus", "../../etc/passwd", "/etc/localtime", "Europe/../../../etc/passwd",
             '"Europe/Berlin\\0"', "'Europe\\Berlin'"]


@pytest.mark.parametrize("name", BAD_ZONES)
def test_invalid_workspace_zone(ws: Ws, name: str) -> None:
    ws.replace("cmops.yaml", "timezone: Europe/Berlin\nlanguage: en", f"timezone: {name}\nlanguage: en")
    assert only(ws.validate(), 1) == [("cmops.yaml", 5, 11, "zone.invalid")]


@pytest.mark.parametrize("name", BAD_ZONES)
def test_invalid_channel_zone(ws: Ws, name: str) -> None:
    ws.replace("cmops.yaml", "    timezone: Europe/Berlin\n    language: de",
               f"    timezone: {name}\n    language: de")
    assert only(ws.validate(), 1) == [("cmops.yaml", 20, 15, "zone.invalid")]


# --- YAML that must not be trusted ------------------------------------------------------------

def test_duplicate_key_in_post_at_the_second_key(ws: Ws) -> None:
    rel = ws.post("dup", "channels: [news]\ntitle: One\ntitle: Two")
    outcome = ws.validate()
    assert only(outcome, 1) == [(rel, 4, 1, "yaml.duplicate-key")]
    assert "first defined on line 3" in outcome.json()[0]["message"]


def test_duplicate_key_in_settings_at_the_second_key(ws: Ws) -> None:
    settings = ws.read("cmops.yaml")
    second = settings.count("\n") + 1
    ws.write("cmops.yaml", settings + "timezone: UTC\n")
    assert only(ws.validate(), 1) == [("cmops.yaml", second, 1, "yaml.duplicate-key")]


def test_duplicate_channel_id_in_settings(ws: Ws) -> None:
    ws.replace("cmops.yaml", "  masto:\n", "  news:\n    platform: feed\n    path: f.xml\n"
               "    site_url: https://x.example/\n  masto:\n")
    assert only(ws.validate(), 1) == [("cmops.yaml", 31, 3, "yaml.duplicate-key")]


@pytest.mark.parametrize("value", [
    "!!python/object:os.system {}",
    "!!python/object/apply:os.system ['echo pwned']",
    "!!python/name:os.system ''",
    "!include secrets.yaml",
    "!!binary aGVsbG8=",
    "!!set {a: null}",
])
def test_unsupported_tag(ws: Ws, value: str) -> None:
    rel = ws.post("tag", f"channels: [news]\ntitle: {value}")
    assert only(ws.validate(), 1) == [(rel, 3, 8, "yaml.unsupported-tag")]


def test_yaml_syntax_error_in_post_has_its_line(ws: Ws) -> None:
    rel = ws.post("syntax", "channels: [news\ntitle: x")
    assert only(ws.validate(), 1) == [(rel, 3, 6, "yaml.syntax")]


def test_yaml_syntax_error_in_settings_has_its_line(ws: Ws) -> None:
    ws.replace("cmops.yaml", "timezone: Europe/Berlin\n", "timezone: Europe/Berlin: x\n")
    outcome = ws.validate()
    assert outcome.code == 1
    assert [w for w in outcome.where() if w[0] == "cmops.yaml"] == [("cmops.yaml", 5, 24, "yaml.syntax")]


# --- front matter -----------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "Just some text, no front matter.\n",
    "",
    "  ---\nchannels: [news]\n---\nIndented opening line.\n",
    "---\nchannels: [news]\nThe closing line is missing.\n",
])
def test_post_without_usable_front_matter(ws: Ws, text: str) -> None:
    rel = "content/posts/plain.md"
    ws.write(rel, text)
    assert only(ws.validate(), 1) == [(rel, 1, 1, "post.no-front-matter")]


def test_unclosed_front_matter_says_so(ws: Ws) -> None:
    rel = "content/posts/open.md"
    ws.write(rel, "---\nchannels: [news]\nThe closing line is missing.\n")
    [finding] = ws.validate().json()
    assert (finding["file"], finding["code"]) == (rel, "post.no-front-matter")
    assert "not closed" in finding["message"]


# --- durations and dates at the edge of what datetime can hold -----------------------------

def test_absurd_cadence_gap_is_a_finding(ws: Ws) -> None:
    ws.replace("content/calendars/winter.yaml", "min_gap: 2h", "min_gap: 99999999999999999999w")
    assert only(ws.validate(), 1) == [("content/calendars/winter.yaml", 26, 14, "time.bad-duration")]


def test_absurd_lookahead_is_a_finding(ws: Ws) -> None:
    ws.replace("cmops.yaml", "lookahead: 15m", "lookahead: 99999999999999w")
    assert only(ws.validate(), 1) == [("cmops.yaml", 39, 14, "time.bad-duration")]


def test_blackout_ending_on_the_last_representable_day(ws: Ws) -> None:
    rel = "content/calendars/forever.yaml"
    ws.write(rel, "blackouts:\n  - name: Forever\n    start: 2027-01-01\n    end: 9999-12-31\n")
    assert only(ws.validate(), 1) == [(rel, 4, 10, "time.invalid")]


def test_publish_at_in_year_1_is_a_finding(ws: Ws) -> None:
    rel = ws.post("ancient", "channels: [bsky-de]\npublish_at: 0001-01-01 00:10")
    assert only(ws.validate(), 1) == [(rel, 3, 13, "time.invalid")]


@pytest.mark.parametrize("when", ["0001-01-01T00:00+01:00", "9999-12-31T23:59+00:00"])
def test_publish_at_at_the_edge_of_time_does_not_crash(ws: Ws, when: str) -> None:
    """An instant datetime can hold but the workspace zone cannot: a finding or nothing,
    in every command."""
    rel = ws.post("edge", f"channels: [bsky-de]\npublish_at: {when}")
    outcome = ws.validate()
    assert (outcome.code, outcome.where()) in [(0, []), (1, [(rel, 3, 13, "time.invalid")])]
    assert ws.cli("preview", "edge").code in (0, 1)
    assert ws.cli("calendar", "--from", "8999-12-01", "--to", "8999-12-30", "--format", "ics").code == 0
    assert ws.cli("calendar", "--from", "9999-12-01", "--format", "ics").code == 2


@pytest.mark.parametrize("args", [
    ["calendar", "--from", "9999-12-31"],
    ["calendar", "--from", "9999-12-01", "--to", "9999-12-31"],
    ["calendar", "--from", "2026-02-30"],
    ["calendar", "--from", "2026-12-10", "--to", "2026-12-01"],
    ["calendar", "--to", "tomorrow"],
])
def test_calendar_dates_that_cannot_be_used_exit_2(ws: Ws, args: list[str]) -> None:
    outcome = ws.cli(*args)
    assert outcome.code == 2, outcome.output
    assert outcome.stdout == ""


def test_clock_at_the_end_of_time_exits_2(ws: Ws) -> None:
    outcome = ws.proc("calendar", env={"CMOPS_NOW": "9999-12-31T23:00:00+00:00"})
    assert outcome.code == 2, outcome.output


@pytest.mark.parametrize("now", ["yesterday", "2026-12-01T10:00"])
def test_unusable_clock_override_exits_2(ws: Ws, now: str) -> None:
    outcome = ws.proc("calendar", env={"CMOPS_NOW": now})
    assert outcome.code == 2
    assert outcome.stderr.startswith(f"cmops: CMOPS_NOW: {now!r}")


# --- text that makes length counting explode ------------------------------------------------

def test_long_dotted_text_on_mastodon_does_not_hang(ws: Ws) -> None:
    """6 KB that looks almost like a URL ('http://a.a.a.…'). Mastodon counts links as 23, so
    cmops looks for URLs; that search must stay linear."""
    rel = ws.post("dots", "channels: [masto]", "http://" + "a." * 3000 + "\n")
    outcome = ws.proc("validate", "--format", "json", timeout=20)
    assert only(outcome, 1) == [(rel, 4, 1, "post.too-long")]


def test_long_dotted_text_on_x_does_not_hang(ws: Ws) -> None:
    ws.replace("cmops.yaml", "\npublishing:", "  tw:\n    platform: x\n\npublishing:")
    rel = ws.post("dots", "channels: [tw]", "a." * 5000 + "\n")
    outcome = ws.proc("validate", "--format", "json", timeout=20)
    assert only(outcome, 1) == [(rel, 4, 1, "post.too-long")]


def test_thousands_of_empty_parts(ws: Ws) -> None:
    rel = ws.post("parts", "channels: [bsky-de]", "---\n" * 100_000)
    outcome = ws.proc("validate", "--format", "json", timeout=30)
    assert only(outcome, 1) == [(rel, 2, 11, "post.empty")]


# --- no workspace at all ----------------------------------------------------------------------

@pytest.mark.parametrize("command", [["validate"], ["preview", "x"], ["calendar"]])
def test_root_without_settings_exits_2_in_process(tmp_path: Path, command: list[str]) -> None:
    outcome = invoke(["--root", str(tmp_path), *command])
    assert outcome.code == 2
    assert f"--root {tmp_path}: there is no cmops.yaml in it" in outcome.stderr
    assert outcome.stdout == ""


def test_root_without_settings_exits_2_as_subprocess(tmp_path: Path) -> None:
    outcome = run_process(["--root", str(tmp_path), "validate"])
    assert (outcome.code, outcome.stdout) == (2, "")
    assert outcome.stderr == f"cmops: --root {tmp_path}: there is no cmops.yaml in it\n"


def test_missing_root_directory_exits_2(tmp_path: Path) -> None:
    outcome = run_process(["--root", str(tmp_path / "nowhere"), "validate"])
    assert (outcome.code, outcome.stdout) == (2, "")
    assert "no cmops.yaml" in outcome.stderr


def test_root_that_is_a_file_exits_2(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    outcome = run_process(["--root", str(tmp_path / "file"), "validate"])
    assert (outcome.code, outcome.stdout) == (2, "")


def test_no_workspace_above_the_current_folder_exits_2(tmp_path: Path) -> None:
    outcome = run_process(["validate"], cwd=tmp_path)
    assert (outcome.code, outcome.stdout) == (2, "")
    assert outcome.stderr.startswith(f"cmops: no cmops.yaml found in {tmp_path.resolve()} or above")


def test_settings_that_are_a_folder_exit_2(tmp_path: Path) -> None:
    (tmp_path / "cmops.yaml").mkdir()
    outcome = run_process(["--root", str(tmp_path), "validate"])
    assert (outcome.code, outcome.stdout) == (2, "")
