from __future__ import annotations

import pytest

from cmops.text import measure


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("hello", 5),
        ("Hütte", 5),  # precomposed
        ("Hu\u0308tte", 5),  # u + combining diaeresis is one grapheme
        ("👩\u200d👩\u200d👧", 1),  # family emoji: one cluster of five code points
        ("🇩🇪🇺🇸", 2),  # two flags
        ("a\r\nb", 3),
    ],
)
def test_bluesky_counts_grapheme_clusters(text: str, length: int) -> None:
    assert measure(text, "bluesky").length == length


def test_mastodon_counts_every_url_as_23() -> None:
    long_url = "https://example.com/" + "a" * 100
    assert measure(f"see {long_url}", "mastodon").length == 4 + 23
    assert measure("see https://x.co", "mastodon").length == 4 + 23


def test_mastodon_counts_remote_mentions_by_username_only() -> None:
    assert measure("hi @alice@mastodon.social", "mastodon").length == len("hi @alice")


def test_mastodon_counts_the_content_warning() -> None:
    assert measure("body", "mastodon", spoiler="CW: spoilers").length == 4 + 12


def test_mastodon_does_not_shorten_urls_without_scheme() -> None:
    assert measure("acme.example/winter", "mastodon").length == len("acme.example/winter")


def test_x_uses_twitter_weighting() -> None:
    # CJK characters weigh 2, URLs 23.
    assert measure("日本語", "x").length == 6
    assert measure("go https://example.com/" + "a" * 80, "x").length == 3 + 23
    assert measure("a" * 281, "x").over == 1


def test_limits_and_overage() -> None:
    m = measure("é" * 301, "bluesky")
    assert (m.length, m.limit, m.over, m.unit) == (301, 300, 1, "graphemes")
    assert measure("x" * 10_000, "feed").over == 0


@pytest.mark.parametrize(
    "text",
    [
        "Grüße aus der Hütte 🎉 ☃ — «quotes» 日本語",  # no joining code points: the fast path
        "한국어",  # precomposed Hangul syllables (LV/LVT)
        "\u1100\u1161\u11a8",  # conjoining jamo: one syllable
        "👍🏽 and 🇩🇪 and क्षि and e\u0301",
        "tab\there\r\nand\x7f",
    ],
)
def test_grapheme_fast_path_agrees_with_full_segmentation(text: str) -> None:
    import regex

    assert measure(text, "bluesky").length == len(regex.findall(r"\X", text))


def test_mastodon_url_counting_matches_twitter_text_on_the_whole_text() -> None:
    from twitter_text.extract_urls import extract_urls_with_indices

    text = ("Links: https://example.com/a, (https://example.org/b?x=1). "
            "Nope:https://example.net/c and ftp://example.com and https://acme.example/local "
            "end https://example.com/a")
    spans = [f["indices"] for f in extract_urls_with_indices(text, False)]
    expected = len(text) - sum(end - start for start, end in spans) + 23 * len(spans)
    assert len(spans) == 4
    assert measure(text, "mastodon").length == expected


@pytest.mark.parametrize(
    ("text", "platform", "spoiler"),
    [
        ("x" * 300, "bluesky", ""),
        ("ü" * 280 + "👩\u200d👩\u200d👧" * 5, "bluesky", ""),
        ("a" * 470 + " https://x.co", "mastodon", ""),
        ("a" * 480, "mastodon", "CW" * 10),
        ("日本語" * 45, "x", ""),
        ("go to a.co " * 20, "x", ""),
        ("y" * 2000, "discord", ""),
    ],
)
def test_surely_fits_never_says_fits_when_the_exact_count_is_over(
    text: str, platform: str, spoiler: str
) -> None:
    from cmops.text import surely_fits

    exact = measure(text, platform, spoiler=spoiler)
    if surely_fits(text, platform, spoiler=spoiler):
        assert exact.over == 0
    assert surely_fits("short", platform)


def test_bluesky_reports_bytes_when_bytes_are_the_binding_limit() -> None:
    family = "\U0001F468\u200d\U0001F469\u200d\U0001F467\u200d\U0001F466"  # 25 bytes, one grapheme
    m = measure(family * 150, "bluesky")
    assert (m.length, m.limit, m.unit, m.over) == (3750, 3000, "bytes of UTF-8", 750)
