from __future__ import annotations

from pathlib import Path

import pytest

from cmops.posts import resolve_media, split_front_matter, split_parts
from factory import Space, make_space


@pytest.fixture
def space(tmp_path: Path) -> Space:
    return make_space(tmp_path)


def test_thread_parts_split_on_separator_lines_with_their_line_numbers() -> None:
    parts = split_parts("First part.\n\n---\n\nSecond\nstill second.\n---\nThird.\n", 5)
    assert [(p.index, p.text, p.line) for p in parts] == [
        (0, "First part.", 5),
        (1, "Second\nstill second.", 9),
        (2, "Third.", 12),
    ]


def test_trailing_separator_does_not_make_an_empty_part() -> None:
    assert [p.text for p in split_parts("One.\n---\n\n", 1)] == ["One."]


def test_front_matter_split_reports_body_line() -> None:
    split = split_front_matter("---\nchannels: [a]\ntags: [x]\n---\nBody\n", "p.md")
    assert split == ("channels: [a]\ntags: [x]\n", 2, "Body\n", 5)


@pytest.mark.parametrize(
    ("post", "written", "expected"),
    [
        ("content/posts/a/b.md", "../../media/x.png", "content/media/x.png"),
        ("content/posts/b.md", "/content/media/x.png", "content/media/x.png"),
        ("content/posts/b.md", "../../../../etc/passwd", None),
        ("content/posts/b.md", "../../../x.png", None),
        ("content/posts/b.md", "..\\..\\x.png", None),
    ],
)
def test_media_paths_resolve_inside_the_workspace_only(post: str, written: str, expected: str | None) -> None:
    assert resolve_media(post, written) == expected


def test_unknown_channel_points_at_the_list_item(space: Space) -> None:
    space.post("a", """\
        channels:
          - bsky
          - bksy
        publish_at: 2026-12-01 09:30
    """)
    findings = space.findings()
    assert [(f.line, f.column, f.path, f.code) for f in findings] == [
        (4, 5, "$.channels[1]", "post.unknown-channel")
    ]
    assert "'bksy'" in findings[0].message and "bsky" in findings[0].message


def test_schema_error_names_the_key_and_line(space: Space) -> None:
    space.post("a", """\
        channels: [bsky]
        publsh_at: 2026-12-01 09:30
        status: live
    """)
    assert space.codes() == [
        ("content/posts/a.md", 3, "schema.unknown-key"),
        ("content/posts/a.md", 4, "schema.enum"),
    ]


def test_unused_variant_is_a_warning(space: Space) -> None:
    space.post("a", """\
        channels: [bsky]
        variants:
          masto: {text: "Hi Mastodon"}
    """)
    [finding] = space.findings()
    assert (finding.line, finding.code, finding.severity) == (4, "post.unused-variant", "warning")


def test_local_time_is_read_in_each_channels_zone(space: Space) -> None:
    from cmops import workspace

    space.post("a", "channels: [bsky, bsky-us]\npublish_at: 2026-12-01 09:30\n")
    loaded, findings = workspace.load(space.root)
    assert findings == []
    [post] = loaded.posts
    times = {c: r.publish_at.isoformat() for c, r in post.renditions.items() if r.publish_at}
    assert times == {"bsky": "2026-12-01T09:30:00+01:00", "bsky-us": "2026-12-01T09:30:00-05:00"}


def test_offset_time_is_one_instant_everywhere(space: Space) -> None:
    from cmops import workspace

    space.post("a", "channels: [bsky, bsky-us]\npublish_at: 2026-12-01T09:30:00+01:00\n")
    loaded, _ = workspace.load(space.root)
    instants = {r.publish_at for r in loaded.posts[0].renditions.values()}
    assert len(instants) == 1


def test_post_linked_from_outside_the_workspace_is_not_read(
    space: Space, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("outside") / "secret.md"
    outside.write_text("---\nchannels: [bsky]\n---\nsecret\n")
    (space.root / "content/posts").mkdir(parents=True)
    (space.root / "content/posts/leak.md").symlink_to(outside)
    assert space.codes() == [("content/posts/leak.md", 1, "file.outside-workspace")]


def test_files_that_look_like_posts_but_are_ignored_get_a_warning(space: Space) -> None:
    space.write("content/posts/launch.markdown", "---\nchannels: [bsky]\n---\nHi\n")
    space.write("content/posts/de/Teaser.MD", "---\nchannels: [bsky]\n---\nHallo\n")
    assert [(f.file, f.code, f.severity) for f in space.findings()] == [
        ("content/posts/de/Teaser.MD", "post.ignored-file", "warning"),
        ("content/posts/launch.markdown", "post.ignored-file", "warning"),
    ]


def test_files_behind_a_linked_folder_outside_are_not_read(
    space: Space, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("outside")
    (outside / "posts").mkdir()
    (outside / "posts" / "leak.md").write_text("---\nchannels: [bsky]\n---\nsecret\n")
    (space.root / "content").symlink_to(outside)
    assert space.codes() == [("content/posts/leak.md", 1, "file.outside-workspace")]


def test_retracted_post_with_a_published_receipt_is_fine(space: Space) -> None:
    space.post("a", "channels: [bsky]\nstatus: retracted", "Oops.")
    space.post("b", "channels: [bsky]\nstatus: retracted", "Oops again.")
    space.write("state/receipts.jsonl",
                '{"post": "a", "channel": "bsky", "part": 0, "event": "published"}\n'
                '{"post": "b", "channel": "bsky", "event": "intent"}\nnot json\n')
    assert space.codes() == [
        ("content/posts/b.md", 3, "post.retracted-unpublished"),
        ("state/receipts.jsonl", 3, "state.bad-receipt"),
    ]


def test_a_post_past_its_time_that_never_went_out_is_a_warning(space: Space) -> None:
    space.post("old", "channels: [bsky, masto]\npublish_at: 2026-11-01 09:00", "Too late.")
    space.post("sent", "channels: [bsky]\npublish_at: 2026-11-01 10:00", "Went out.")
    space.post("soon", "channels: [bsky]\npublish_at: 2026-11-30 10:00", "Within grace.")
    space.write("state/r.jsonl", '{"post": "old", "channel": "masto", "part": 0, "event": "published"}\n'
                '{"post": "sent", "channel": "bsky", "part": 0, "event": "published"}\n')
    from cmops import validation

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CMOPS_NOW", "2026-12-01T09:00:00+01:00")
        found = [(f.file, f.line, f.code, f.message) for f in validation.run(space.root).findings]
    assert found == [("content/posts/old.md", 3, "post.never-published",
                      "2026-11-01 09:00 CET is more than 24 h ago and state/ has no receipt for bsky: it "
                      "never went out there and will not (missed); give it a new publish_at to publish it")]


def test_bad_variant_name_points_at_the_key(space: Space) -> None:
    space.post("a", "channels: [bsky]\nvariants:\n  bsky: {text: a}\n  Bsky: {text: b}")
    assert space.codes() == [("content/posts/a.md", 5, "schema.bad-name")]
