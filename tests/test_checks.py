"""Each family of checks, pinned by the exact code and line it reports."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from factory import Space, make_space

CALENDAR = """\
campaigns:
  launch:
    start: 2026-12-01
    end: 2026-12-10
    channels: [bsky, masto]
blackouts:
  - name: Christmas
    start: 2026-12-24
    end: 2026-12-26
cadence:
  - channels: [bsky]
    max_per_day: 2
    min_gap: 2h
"""


def png(width: int = 2, height: int = 2, extra: int = 0) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\x80" * (width * 3) for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    padding = chunk(b"tEXt", b"c\x00" + b"x" * extra) if extra else b""
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + padding
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.fixture
def space(tmp_path: Path) -> Space:
    return make_space(tmp_path)


# --- length -------------------------------------------------------------------------------

def test_too_long_part_names_channel_part_and_overage(space: Space) -> None:
    space.post("a", "channels: [bsky, masto]", "Short first part.\n\n---\n" + "ü" * 310 + "\n")
    [finding] = space.findings()
    assert (finding.line, finding.code) == (7, "post.too-long")
    assert finding.message.startswith("bsky: part 2 of 2 is 310 graphemes, 10 over Bluesky's limit of 300")


def test_variant_text_is_what_gets_counted(space: Space) -> None:
    space.post("a", """\
        channels: [bsky, x]
        variants:
          x:
            text: "%s"
    """ % ("a" * 290), "Fine for Bluesky.")
    [finding] = space.findings()
    assert (finding.line, finding.code) == (5, "post.too-long")
    assert finding.message.startswith("x: the text is 290 weighted characters, 10 over X's limit of 280")


def test_empty_middle_part(space: Space) -> None:
    space.post("a", "channels: [bsky]", "One\n---\n\n---\nThree")
    assert space.codes() == [("content/posts/a.md", 6, "post.empty-part")]


# --- media --------------------------------------------------------------------------------

def test_media_problems(space: Space) -> None:
    (space.root / "content/media").mkdir(parents=True)
    (space.root / "content/media/ok.png").write_bytes(png())
    (space.root / "content/media/big.png").write_bytes(png(extra=1_100_000))
    (space.root / "content/media/notes.txt").write_text("not an image")
    space.post("a", """\
        channels: [bsky]
        media:
          - {path: ../media/ok.png, alt: "  "}
          - {path: ../media/gone.png, alt: A thing}
          - {path: ../media/big.png, alt: A big thing}
          - {path: ../media/notes.txt, alt: Text}
    """)
    assert space.codes() == [
        ("content/posts/a.md", 4, "media.missing-alt"),
        ("content/posts/a.md", 5, "media.missing"),
        ("content/posts/a.md", 6, "media.too-large"),
        ("content/posts/a.md", 7, "media.unsupported-type"),
    ]


def test_large_image_is_fine_where_the_platform_allows_it(space: Space) -> None:
    (space.root / "content/media").mkdir(parents=True)
    (space.root / "content/media/big.png").write_bytes(png(extra=1_100_000))
    space.post("a", "channels: [masto]\nmedia: [{path: ../media/big.png, alt: Big}]")
    assert space.codes() == []


def test_slack_cannot_attach_images(space: Space) -> None:
    (space.root / "content/media").mkdir(parents=True)
    (space.root / "content/media/ok.png").write_bytes(png())
    space.post("a", "channels: [chat]\nmedia: [{path: ../media/ok.png, alt: Ok}]")
    [finding] = space.findings()
    assert (finding.line, finding.code, finding.severity) == (3, "media.not-supported", "warning")


def test_symlink_out_of_the_workspace(space: Space, tmp_path_factory: pytest.TempPathFactory) -> None:
    outside = tmp_path_factory.mktemp("outside") / "secret.png"
    outside.write_bytes(png())
    (space.root / "content/media").mkdir(parents=True)
    (space.root / "content/media/link.png").symlink_to(outside)
    space.post("a", "channels: [bsky]\nmedia: [{path: ../media/link.png, alt: Link}]")
    assert space.codes() == [("content/posts/a.md", 3, "media.outside-workspace")]


# --- duplicates ---------------------------------------------------------------------------

def test_identical_content_on_the_same_channel(space: Space) -> None:
    space.post("a", "channels: [bsky, masto]", "Same words.")
    space.post("b", "channels: [bsky]", "Same words.")
    space.post("c", "channels: [bsky]\nstatus: draft", "Same words.")
    findings = space.findings()
    assert [(f.file, f.code) for f in findings] == [("content/posts/b.md", "post.duplicate-content")]
    assert "content/posts/a.md" in findings[0].message


def test_ids_differing_only_by_case(space: Space) -> None:
    space.post("Launch", "channels: [bsky]", "One.")
    space.post("launch", "channels: [bsky]", "Two.")
    assert [f.code for f in space.findings()] == ["post.duplicate-id"]


# --- calendar -----------------------------------------------------------------------------

def test_blackout_and_campaign_window(space: Space) -> None:
    space.write("content/calendars/main.yaml", CALENDAR)
    space.post("xmas", "channels: [bsky]\npublish_at: 2026-12-25 10:00", "Merry")
    space.post("late", "channels: [bsky]\ncampaign: launch\npublish_at: 2026-12-11 10:00", "Late")
    space.post("ok", "channels: [bsky]\ncampaign: launch\npublish_at: 2026-12-10 23:59", "Ok")
    space.post("where", "channels: [news]\ncampaign: launch\npublish_at: 2026-12-05 10:00", "Where")
    space.post("typo", "channels: [bsky]\ncampaign: lunch", "Typo")
    assert space.codes() == [
        ("content/posts/late.md", 4, "post.outside-campaign"),
        ("content/posts/typo.md", 3, "post.unknown-campaign"),
        ("content/posts/where.md", 2, "post.campaign-channel"),
        ("content/posts/xmas.md", 3, "post.in-blackout"),
    ]


def test_blackout_respects_each_channels_zone(space: Space) -> None:
    space.write("content/calendars/main.yaml", CALENDAR)
    # 23:30 on the 23rd in New York is already the 24th in Berlin, inside the blackout.
    space.post("ny", "channels: [bsky-us]\npublish_at: 2026-12-23 23:30")
    assert space.codes() == [("content/posts/ny.md", 3, "post.in-blackout")]


def test_cadence_max_per_day_and_min_gap(space: Space) -> None:
    space.write("content/calendars/main.yaml", CALENDAR)
    space.post("p1", "channels: [bsky]\npublish_at: 2026-12-02 08:00", "one")
    space.post("p2", "channels: [bsky]\npublish_at: 2026-12-02 09:00", "two")
    space.post("p3", "channels: [bsky]\npublish_at: 2026-12-02 15:00", "three")
    space.post("p4", "channels: [masto]\npublish_at: 2026-12-02 15:30", "four")
    findings = space.findings()
    assert [(f.file, f.code) for f in findings] == [
        ("content/posts/p2.md", "post.cadence-min-gap"),
        ("content/posts/p3.md", "post.cadence-max-per-day"),
    ]
    assert findings[0].related == ("content/posts/p1.md",)


def test_unknown_channel_in_calendar(space: Space) -> None:
    space.write("content/calendars/main.yaml", "blackouts:\n  - {start: 2026-12-01, end: 2026-12-02,"
                                               " channels: [bsky, nope]}\n")
    assert space.codes() == [("content/calendars/main.yaml", 2, "calendar.unknown-channel")]


def test_campaign_ending_before_it_starts(space: Space) -> None:
    space.write("content/calendars/main.yaml", "campaigns:\n  c:\n    start: 2026-12-10\n"
                                               "    end: 2026-12-01\n")
    assert space.codes() == [("content/calendars/main.yaml", 4, "calendar.bad-window")]


def test_duplicate_campaign_across_files(space: Space) -> None:
    space.write("content/calendars/a.yaml", "campaigns:\n  c: {start: 2026-12-01, end: 2026-12-02}\n")
    space.write("content/calendars/b.yaml", "campaigns:\n  c: {start: 2026-12-01, end: 2026-12-02}\n")
    assert space.codes() == [("content/calendars/b.yaml", 2, "calendar.duplicate-campaign")]


# --- voice --------------------------------------------------------------------------------

VOICE = """\
banned_phrases:
  - phrase: synergy
    suggestion: working together
  - {phrase: game changer, severity: warning, channels: [bsky]}
max_hashtags: 2
disclosure:
  any_of: ["#ad", "Anzeige"]
  tags: [paid]
"""


def test_banned_phrase_points_at_line_and_column(space: Space) -> None:
    space.write("policies/voice.yaml", VOICE)
    space.post("a", "channels: [bsky, masto]", "Hello.\nWe love Synergy!")
    [finding] = space.findings()
    assert (finding.line, finding.column, finding.code) == (5, 9, "voice.banned-phrase")
    assert "'working together'" in finding.message


def test_banned_phrase_limited_to_channels_and_whole_words(space: Space) -> None:
    space.write("policies/voice.yaml", VOICE)
    space.post("a", "channels: [masto]", "A game changer, synergyless.")
    assert space.codes() == []
    space.post("b", "channels: [bsky]", "A game changer.")
    assert [(f.code, f.severity) for f in space.findings()] == [("voice.banned-phrase", "warning")]


def test_hashtag_limit(space: Space) -> None:
    space.write("policies/voice.yaml", VOICE)
    space.post("a", "channels: [bsky]", "#one #two and #three, but not C# or #1")
    [finding] = space.findings()
    assert (finding.code, finding.column) == ("voice.too-many-hashtags", 15)


def test_sponsored_posts_need_a_disclosure(space: Space) -> None:
    space.write("policies/voice.yaml", VOICE)
    space.post("a", "channels: [bsky]\nsponsored: true", "Buy our partner's stuff.")
    space.post("b", "channels: [bsky]\ntags: [paid]", "Buy more stuff.")
    space.post("c", "channels: [bsky]\nsponsored: true", "#ad Buy the stuff.")
    assert space.codes() == [
        ("content/posts/a.md", 3, "voice.missing-disclosure"),
        ("content/posts/b.md", 3, "voice.missing-disclosure"),
    ]


def test_too_long_part_of_a_variant_thread_points_at_its_own_line(space: Space) -> None:
    space.post("a", """\
        channels: [bsky]
        variants:
          bsky:
            text: |
              First part is short.
              ---
              %s
    """ % ("b" * 301))
    [finding] = space.findings()
    assert (finding.line, finding.code) == (8, "post.too-long")
    assert finding.message.startswith("bsky: part 2 of 2 is 301 graphemes")


def test_findings_for_different_channels_at_one_place_are_all_kept(space: Space) -> None:
    space.write("content/calendars/main.yaml", CALENDAR)
    space.post("p", "channels: [bsky, masto]\npublish_at: 2026-12-25 10:00", "Merry")
    findings = space.findings()
    assert [(f.line, f.code) for f in findings] == [(3, "post.in-blackout"), (3, "post.in-blackout")]
    assert sorted(f.message.split(":")[0] for f in findings) == ["bsky", "masto"]
