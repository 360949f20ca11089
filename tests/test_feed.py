"""The Atom feed channel: document structure (RFC 4287), stable ids, reproducible bytes,
sanitised content, and the atomic file write."""

from __future__ import annotations

import os
import random
import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from cmops.model import Channel
from cmops.platforms import adapter_for
from cmops.platforms.base import ChannelUnusable, PartRequest, Sent, Setup
from cmops.platforms.feed import (
    FeedAdapter,
    FeedEntry,
    entry_id,
    entry_url,
    feed_id,
    render_feed,
    render_html,
    write_feed,
)

NS = "http://www.w3.org/2005/Atom"
A = f"{{{NS}}}"
BERLIN = ZoneInfo("Europe/Berlin")
SITE = "https://brand.example/"
T0 = datetime(2026, 12, 1, 9, 30, tzinfo=BERLIN)


def channel(**options: Any) -> Channel:
    merged: dict[str, Any] = {"platform": "feed", "path": "public/feed.xml", "site_url": SITE}
    merged.update(options)
    return Channel(id="news", platform="feed", zone=BERLIN, language="en", options=merged)


def entry(post_id: str, hours: float = 0, *, markdown: str = "Hello world.", title: str = "Hello",
          updated_hours: float | None = None, images: tuple[tuple[str, str], ...] = ()) -> FeedEntry:
    published = T0 + timedelta(hours=hours)
    updated = published if updated_hours is None else T0 + timedelta(hours=updated_hours)
    return FeedEntry(post_id=post_id, title=title, markdown=markdown, published=published,
                     updated=updated, images=images)


def parse(text: str) -> ET.Element:
    return ET.fromstring(text.encode("utf-8"))


def one(parent: ET.Element, tag: str) -> ET.Element:
    found = parent.findall(A + tag)
    assert len(found) == 1, f"{parent.tag} has {len(found)} {tag}"
    return found[0]


def entries_of(root: ET.Element) -> list[ET.Element]:
    return root.findall(A + "entry")


def ids_of(root: ET.Element) -> list[str]:
    return [one(e, "id").text or "" for e in entries_of(root)]


def content_of(text: str, index: int = 0) -> str:
    return one(entries_of(parse(text))[index], "content").text or ""


def part(post: str = "2026-12-01-winter", index: int = 0, ch: Channel | None = None) -> PartRequest:
    return PartRequest(post=post, channel=ch or channel(), index=index, count=2, text="Hello",
                       key="k", created_at=T0)


# -- structure ------------------------------------------------------------------------------


def test_feed_has_every_element_rfc_4287_requires() -> None:
    text = render_feed(channel(), "Brand", [entry("a", 0), entry("b", 1)])
    assert text.startswith('<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom"')
    root = parse(text)
    assert root.tag == A + "feed"
    assert root.get("{http://www.w3.org/XML/1998/namespace}lang") == "en"
    assert one(root, "id").text == feed_id(SITE, "public/feed.xml")
    assert one(root, "title").text == "Brand"
    assert one(root, "title").get("type") == "text"
    assert one(root, "updated").text == "2026-12-01T09:30:00Z"
    assert one(one(root, "author"), "name").text == "Brand"
    assert one(root, "generator").text == "cmops"
    links = root.findall(A + "link")
    assert [(link.get("rel"), link.get("href")) for link in links] == [("alternate", SITE)]
    assert len(entries_of(root)) == 2
    for item in entries_of(root):
        for tag in ("id", "title", "updated", "published"):
            assert one(item, tag).text
        assert one(item, "link").get("rel") == "alternate"
        assert one(item, "content").get("type") == "html"
    first = entries_of(root)[0]
    assert one(first, "id").text == entry_id(SITE, "b")
    assert one(first, "link").get("href") == "https://brand.example/#b"
    assert one(first, "published").text == "2026-12-01T09:30:00Z"
    assert one(first, "content").text == "<p>Hello world.</p>"


def test_empty_feed_is_valid_and_dated_at_a_fixed_instant() -> None:
    root = parse(render_feed(channel(), "Brand", []))
    assert one(root, "updated").text == "1970-01-01T00:00:00Z"
    assert entries_of(root) == []
    assert render_feed(channel(), "Brand", []) == render_feed(channel(), "Brand", [])


def test_title_option_wins_over_workspace_name() -> None:
    root = parse(render_feed(channel(title="Brand News"), "Brand", []))
    assert one(root, "title").text == "Brand News"
    assert one(one(root, "author"), "name").text == "Brand"


def test_no_language_means_no_xml_lang() -> None:
    plain = Channel(id="news", platform="feed", zone=BERLIN, language=None, options=channel().options)
    root = parse(render_feed(plain, "Brand", []))
    assert root.get("{http://www.w3.org/XML/1998/namespace}lang") is None


def test_entry_without_title_is_titled_by_its_post_id() -> None:
    root = parse(render_feed(channel(), "Brand", [entry("de/launch", title="  ")]))
    assert one(entries_of(root)[0], "title").text == "de/launch"


def test_times_are_rfc_3339_in_utc() -> None:
    item = FeedEntry("a", "t", "x", datetime(2026, 7, 1, 12, 0, 5, 123456, tzinfo=BERLIN),
                     datetime(2026, 7, 2, 0, 30, tzinfo=ZoneInfo("America/New_York")))
    root = parse(render_feed(channel(), "Brand", [item]))
    assert one(entries_of(root)[0], "published").text == "2026-07-01T10:00:05Z"
    assert one(entries_of(root)[0], "updated").text == "2026-07-02T04:30:00Z"
    assert one(root, "updated").text == "2026-07-02T04:30:00Z"


def test_naive_times_are_refused() -> None:
    naive = FeedEntry("a", "t", "x", datetime(2026, 7, 1, 12), datetime(2026, 7, 1, 12))
    with pytest.raises(ValueError, match="timezone-aware"):
        render_feed(channel(), "Brand", [naive])


def test_a_post_given_twice_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="given twice"):
        render_feed(channel(), "Brand", [entry("a"), entry("a", 1)])


# -- ids --------------------------------------------------------------------------------------


def test_entry_ids_are_pinned_forever() -> None:
    # Changing these would make every reader show every post again: never update the values.
    assert entry_id(SITE, "2026-12-01-winter") == "urn:uuid:eb54f7d3-4768-5e5d-9ac0-27c8a5125f2a"
    assert feed_id(SITE, "public/feed.xml") == "urn:uuid:5cb845bb-9c22-53a6-b2c0-1fd62ba9a333"
    # How they are made: UUIDv5 of the post id in the site's own UUIDv5 namespace.
    site = uuid.uuid5(uuid.NAMESPACE_URL, "https://brand.example")
    assert entry_id(SITE, "2026-12-01-winter") == f"urn:uuid:{uuid.uuid5(site, '2026-12-01-winter')}"


def test_ids_ignore_cosmetic_differences_of_the_site_url() -> None:
    same = {entry_id(url, "a") for url in
            ("https://brand.example/", "https://brand.example", "HTTPS://Brand.Example/", "https://brand.example/#top")}
    assert len(same) == 1
    assert entry_id("https://brand.example/blog", "a") != entry_id(SITE, "a")
    assert entry_id(SITE, "a") != entry_id(SITE, "b")
    assert entry_id(SITE, "a") != feed_id(SITE, "public/feed.xml")
    assert feed_id(SITE, "public/de.xml") != feed_id(SITE, "public/feed.xml")


def test_ids_are_stable_across_renders_and_unrelated_changes() -> None:
    before = parse(render_feed(channel(), "Brand", [entry("a", 0), entry("b", 1)]))
    after = parse(render_feed(channel(title="Renamed"), "Other name", [
        entry("a", 0), entry("b", 1, markdown="Edited text", title="New title", updated_hours=5),
        entry("c", 2)]))
    assert one(before, "id").text == one(after, "id").text
    assert ids_of(before) == [entry_id(SITE, "b"), entry_id(SITE, "a")]
    assert ids_of(after) == [entry_id(SITE, "c"), entry_id(SITE, "b"), entry_id(SITE, "a")]


def test_entry_id_is_what_the_adapter_recorded() -> None:
    adapter = FeedAdapter(Setup(channel=channel(), client=httpx.Client(), root=Path(), env={}))
    sent = adapter.publish(part("de/2026-12-01-winter"))
    root = parse(render_feed(channel(), "Brand", [entry("de/2026-12-01-winter")]))
    assert ids_of(root) == [sent.id]
    assert one(entries_of(root)[0], "link").get("href") == sent.url


def test_entry_url_keeps_the_query_and_replaces_a_fragment() -> None:
    assert entry_url("https://brand.example/news?lang=de#top", "de/a b") == \
        "https://brand.example/news?lang=de#de/a%20b"


# -- selection, order, reproducibility -----------------------------------------------------------


def test_newest_max_entries_are_kept_newest_first() -> None:
    items = [entry(f"p{n}", n) for n in range(5)]
    root = parse(render_feed(channel(max_entries=3), "Brand", items))
    assert ids_of(root) == [entry_id(SITE, p) for p in ("p4", "p3", "p2")]


def test_default_keeps_fifty() -> None:
    items = [entry(f"p{n:02}", n) for n in range(60)]
    root = parse(render_feed(channel(), "Brand", items))
    assert len(entries_of(root)) == 50
    assert ids_of(root)[0] == entry_id(SITE, "p59")
    assert ids_of(root)[-1] == entry_id(SITE, "p10")


def test_equal_times_are_ordered_by_post_id() -> None:
    items = [entry("c", 1), entry("a", 1), entry("b", 1), entry("z", 0)]
    root = parse(render_feed(channel(), "Brand", items))
    assert ids_of(root) == [entry_id(SITE, p) for p in ("a", "b", "c", "z")]


def test_order_compares_instants_not_wall_times() -> None:
    early = FeedEntry("early", "t", "x", datetime(2026, 1, 1, 10, tzinfo=BERLIN), T0)  # 09:00Z
    late = FeedEntry("late", "t", "x", datetime(2026, 1, 1, 9, 30, tzinfo=UTC), T0)  # 09:30Z
    root = parse(render_feed(channel(), "Brand", [early, late]))
    assert ids_of(root) == [entry_id(SITE, "late"), entry_id(SITE, "early")]


def test_feed_updated_is_the_newest_entry_update_not_the_clock() -> None:
    items = [entry("old", 0, updated_hours=48), entry("new", 24)]
    root = parse(render_feed(channel(), "Brand", items))
    assert one(root, "updated").text == "2026-12-03T08:30:00Z"


def test_rendering_is_byte_identical_whatever_the_input_order() -> None:
    items = [entry(f"p{n}", n % 3, markdown=f"Post {n} & <b>more</b> https://x.example/{n}")
             for n in range(12)]
    first = render_feed(channel(max_entries=8), "Brand", items)
    shuffled = items[:]
    random.Random(4).shuffle(shuffled)
    assert render_feed(channel(max_entries=8), "Brand", shuffled) == first
    assert render_feed(channel(max_entries=8), "Brand", items) == first


# -- content -----------------------------------------------------------------------------------


def test_raw_html_cannot_smuggle_script() -> None:
    hostile = ("Hi <script>alert(1)</script> there\n\n<img src=x onerror=alert(2)>\n\n"
               '<iframe src="https://evil.example/"></iframe>\n\n<style>body{display:none}</style>\n\n'
               '[click](javascript:alert(3)) <a href="https://ok.example/" onclick="alert(4)">ok</a>\n\n'
               '<p onmouseover="alert(5)">hover</p>')
    text = render_feed(channel(), "Brand", [entry("a", markdown=hostile)])
    html = content_of(text)
    for bad in ("<script", "alert(", "onerror", "<iframe", "evil.example", "<style", "javascript:",
                "onclick", "onmouseover"):
        assert bad not in html.lower(), bad
    assert "<p>Hi  there</p>" in html and "<p>hover</p>" in html
    assert '<a rel="noopener noreferrer">click</a>' in html
    assert "Hi" in html and "there" in html and "hover" in html
    assert '<a href="https://ok.example/" rel="noopener noreferrer">ok</a>' in html


def test_markdown_is_rendered_with_line_breaks_and_linked_urls() -> None:
    html = render_html("**Winter** is here:\nhttps://acme.example/winter.\n\n"
                       "See [the notes](https://acme.example/notes) or `https://not.linked/`")
    assert html == (
        '<p><strong>Winter</strong> is here:<br>\n'
        '<a href="https://acme.example/winter" rel="noopener noreferrer">https://acme.example/winter</a>.</p>\n'
        '<p>See <a href="https://acme.example/notes" rel="noopener noreferrer">the notes</a> or '
        '<code>https://not.linked/</code></p>')


def test_url_in_parentheses_keeps_its_own_parentheses_only() -> None:
    html = render_html("(see https://en.example/wiki/Foo_(bar)) and (https://b.example/x)")
    assert 'href="https://en.example/wiki/Foo_(bar)"' in html
    assert 'href="https://b.example/x"' in html


def test_bare_urls_next_to_other_markdown() -> None:
    html = render_html("Go https://x.example/?a=1&b=2 now, *https://z.example/a*. "
                       "[https://q.example](https://q.example) http:// <https://y.example/>")
    assert html == (
        '<p>Go <a href="https://x.example/?a=1&amp;b=2" rel="noopener noreferrer">'
        'https://x.example/?a=1&amp;b=2</a> now, '
        '<em><a href="https://z.example/a" rel="noopener noreferrer">https://z.example/a</a></em>. '
        '<a href="https://q.example" rel="noopener noreferrer">https://q.example</a> http:// '
        '<a href="https://y.example/" rel="noopener noreferrer">https://y.example/</a></p>')


def test_special_characters_are_escaped_and_round_trip() -> None:
    text = render_feed(channel(title="R&D <news>"), "Brand",
                       [entry("a", title='Fish & Chips <now> "quoted"', markdown="a < b & c > d")])
    assert "<title type=\"text\">R&amp;D &lt;news&gt;</title>" in text
    assert "Fish &amp; Chips &lt;now&gt;" in text
    root = parse(text)
    assert one(root, "title").text == "R&D <news>"
    assert one(entries_of(root)[0], "title").text == 'Fish & Chips <now> "quoted"'
    assert one(entries_of(root)[0], "content").text == "<p>a &lt; b &amp; c &gt; d</p>"


def test_non_ascii_is_written_as_utf8_not_escaped() -> None:
    text = render_feed(channel(), "Marke Ä", [entry("a", title="Grüße 🎉", markdown="日本語 — ça va")])
    assert "Grüße 🎉" in text and "日本語 — ça va" in text and "Marke Ä" in text
    assert "&#" not in text
    root = parse(text)
    assert one(entries_of(root)[0], "title").text == "Grüße 🎉"


def test_characters_xml_cannot_hold_are_dropped() -> None:
    text = render_feed(channel(), "Brand\x00", [entry("a", title="bell\x07", markdown="a\x01b\x02c\x03\x1b")])
    root = parse(text)
    assert one(entries_of(root)[0], "title").text == "bell"
    assert one(entries_of(root)[0], "content").text == "<p>abc</p>"


def test_images_inside_the_feed_folder_are_shown_relative_to_it() -> None:
    images = (("public/media/snow day.png", 'Snow "day"'), ("content/media/private.png", "not served"))
    html = content_of(render_feed(channel(), "Brand", [entry("a", markdown="Hi", images=images)]))
    assert html == '<p>Hi</p>\n<p><img src="media/snow%20day.png" alt="Snow &quot;day&quot;"></p>'


def test_feed_at_the_root_shows_every_image() -> None:
    images = (("content/media/a.png", "A"), ("../outside.png", "no"))
    text = render_feed(channel(path="feed.xml"), "Brand", [entry("a", markdown="Hi", images=images)])
    html = content_of(text)
    assert html == '<p>Hi</p>\n<p><img src="content/media/a.png" alt="A"></p>'


# -- adapter ---------------------------------------------------------------------------------------


def test_adapter_answers_without_side_effects(tmp_path: Path) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"the feed made a request: {request.url}")

    setup = Setup(channel=channel(), client=httpx.Client(transport=httpx.MockTransport(refuse)),
                  root=tmp_path, env={}, sleep=lambda s: None)
    adapter = adapter_for(setup)
    assert isinstance(adapter, FeedAdapter)
    assert (adapter.can_edit, adapter.can_delete, adapter.can_lookup) == (True, True, True)
    first = adapter.publish(part("de/winter", 0))
    ident = entry_id(SITE, "de/winter")
    assert first == Sent(id=ident, url="https://brand.example/#de/winter")
    assert adapter.publish(part("de/winter", 1)) == Sent(id=ident + "#part-1", url=first.url)
    assert adapter.publish(part("de/winter", 0)) == first
    assert adapter.lookup(part("de/winter"), T0) is None
    assert adapter.edit(first, part("de/winter")) == first
    adapter.delete(first)
    assert adapter.key(b"\x00\xffseed", T0) == "00ff73656564"
    assert list(tmp_path.iterdir()) == []


def test_adapter_without_site_url_is_unusable() -> None:
    broken = Channel(id="news", platform="feed", zone=BERLIN, language=None, options={"path": "f.xml"})
    adapter = FeedAdapter(Setup(channel=broken, client=httpx.Client(), root=Path(), env={}))
    with pytest.raises(ChannelUnusable, match="site_url"):
        adapter.publish(part(ch=broken))


# -- write_feed ---------------------------------------------------------------------------------------


def test_write_feed_creates_folders_and_reports_changes(tmp_path: Path) -> None:
    target = tmp_path / "public" / "nested" / "feed.xml"
    assert write_feed(target, "<feed>ü</feed>\n") is True
    assert target.read_bytes() == "<feed>ü</feed>\n".encode()
    assert write_feed(target, "<feed>2</feed>\n") is True
    assert target.read_text(encoding="utf-8") == "<feed>2</feed>\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["feed.xml"]


def test_write_feed_leaves_an_unchanged_file_alone(tmp_path: Path) -> None:
    target = tmp_path / "feed.xml"
    write_feed(target, "same\n")
    os.utime(target, (1_000_000, 1_000_000))
    before = target.stat()
    assert write_feed(target, "same\n") is False
    after = target.stat()
    assert (after.st_ino, after.st_mtime) == (before.st_ino, before.st_mtime)


def test_write_feed_keeps_line_endings_exactly(tmp_path: Path) -> None:
    target = tmp_path / "feed.xml"
    write_feed(target, "a\nb\n")
    assert target.read_bytes() == b"a\nb\n"


def test_write_feed_replaces_through_a_temporary_file_in_the_same_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "feed.xml"
    target.write_text("old", encoding="utf-8")
    seen: list[tuple[Path, Path, str]] = []
    real_replace = Path.replace

    def spy(src: Path, dst: str | os.PathLike[str]) -> Path:
        seen.append((src, Path(dst), src.read_text(encoding="utf-8")))
        assert Path(dst).read_text(encoding="utf-8") == "old"
        return real_replace(src, dst)

    monkeypatch.setattr(Path, "replace", spy)
    assert write_feed(target, "new") is True
    [(src, dst, written)] = seen
    assert dst == target and src.parent == target.parent and src != target
    assert written == "new"
    assert target.read_text(encoding="utf-8") == "new"


def test_a_failed_write_keeps_the_old_file_and_no_debris(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "feed.xml"
    target.write_text("old", encoding="utf-8")

    def fail(src: Path, dst: str | os.PathLike[str]) -> Path:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "replace", fail)
    with pytest.raises(OSError, match="No space"):
        write_feed(target, "new")
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["feed.xml"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_write_feed_keeps_the_file_mode(tmp_path: Path) -> None:
    target = tmp_path / "feed.xml"
    write_feed(target, "one")
    assert target.stat().st_mode & 0o777 == 0o644
    target.chmod(0o664)
    write_feed(target, "two")
    assert target.stat().st_mode & 0o777 == 0o664


def test_rendered_feed_written_twice_changes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "public" / "feed.xml"
    items = [entry("a", 0), entry("b", 1)]
    assert write_feed(target, render_feed(channel(), "Brand", items)) is True
    assert write_feed(target, render_feed(channel(), "Brand", list(reversed(items)))) is False
    parse(target.read_text(encoding="utf-8"))
