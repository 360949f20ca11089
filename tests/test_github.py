"""The GitHub side: approval rules applied to a pull request's reviews, the one plan comment,
rate limits and paging, all against an in-memory GitHub (``fake_github``)."""

from __future__ import annotations

import httpx
import pytest

from cmops import github as gh_mod
from cmops.approvals import Change, Rule, approvals_of, glob_match, judge
from conftest import Ws
from fake_github import ORG_TOKEN, REPO, TOKEN, FakeGitHub

#: The fake and the list of every sleep the client asked for.
GH = tuple[FakeGitHub, list[float]]

HEAD = "a" * 40
OLD = "b" * 40
BASE = "c" * 40

CRISIS_POST = """---
channels: [bsky-us]
publish_at: 2026-12-20 10:00
tags: [crisis]
---
We know the app is down for some of you. We are on it; updates here every 30 minutes.
"""

PLAIN_POST = """---
channels: [bsky-us]
publish_at: 2026-12-20 10:00
tags: [tips]
---
Tip: press ? anywhere in the app to see every shortcut.
"""


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch) -> GH:
    fake = FakeGitHub()
    fake.teams = {"acme/comms": ["alice", "carol", "Dave"], "acme/comms-leads": ["alice", "bob", "erin"],
                  "acme/legal": ["lena"]}
    slept: list[float] = []
    transport = httpx.MockTransport(fake.handle)
    monkeypatch.setattr(gh_mod, "CLIENT_FACTORY", lambda: httpx.Client(transport=transport))
    monkeypatch.setattr(gh_mod, "SLEEP", slept.append)
    monkeypatch.setattr(gh_mod, "CLOCK", fake.clock)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("CMOPS_TEAMS_TOKEN", ORG_TOKEN)
    monkeypatch.setenv("GITHUB_REPOSITORY", REPO)
    for name in ("GITHUB_SERVER_URL", "GITHUB_RUN_ID", "GITHUB_API_URL"):
        monkeypatch.delenv(name, raising=False)
    return fake, slept


def crisis_pull(fake: FakeGitHub, number: int = 7) -> None:
    pull = fake.pull(number, HEAD, BASE)
    pull.files = [{"filename": "content/posts/us/outage.md", "status": "added"}]
    fake.file("content/posts/us/outage.md", HEAD, CRISIS_POST)


# -- the rules, as a pure function --------------------------------------------------------------

def test_globs_match_by_folder() -> None:
    assert glob_match("content/posts/us/a.md", "content/posts/**")
    assert glob_match("content/posts/a.md", "content/posts/*.md")
    assert not glob_match("content/posts/us/a.md", "content/posts/*.md")
    assert glob_match("policies/voice.yaml", "**/*.yaml")
    assert glob_match("voice.yaml", "**/*.yaml")
    assert not glob_match("content/postsX/a.md", "content/posts/**")


def test_latest_review_per_person_counts_and_stale_ones_are_told_apart() -> None:
    reviews = [
        {"user": {"login": "alice"}, "state": "APPROVED", "commit_id": HEAD},
        {"user": {"login": "alice"}, "state": "COMMENTED", "commit_id": HEAD},  # keeps the approval
        {"user": {"login": "bob"}, "state": "APPROVED", "commit_id": OLD},  # before the last push
        {"user": {"login": "carol"}, "state": "APPROVED", "commit_id": HEAD},
        {"user": {"login": "carol"}, "state": "CHANGES_REQUESTED", "commit_id": HEAD},
        {"user": {"login": "dave"}, "state": "APPROVED", "commit_id": HEAD},
        {"user": {"login": "dave"}, "state": "DISMISSED", "commit_id": HEAD},
        {"user": {"login": "Writer"}, "state": "APPROVED", "commit_id": HEAD},  # the author
    ]
    assert approvals_of(reviews, HEAD, "writer") == ({"alice"}, {"bob"})


def test_a_rule_applies_only_when_all_its_conditions_hold() -> None:
    rule = Rule("us crisis", 2, ("@acme/comms-leads",), paths=("content/posts/us/**",), tags=("crisis",))
    crisis_de = Change("content/posts/de/a.md", True, frozenset({"crisis"}))
    crisis_us = Change("content/posts/us/a.md", True, frozenset({"crisis"}))
    tips_us = Change("content/posts/us/b.md", True, frozenset({"tips"}))
    verdicts = judge([rule], [crisis_de, tips_us], {"alice"}, set(), {"acme/comms-leads": ["alice"]})
    assert verdicts == []
    [verdict] = judge([rule], [crisis_de, crisis_us], {"alice", "zed"}, {"bob"},
                      {"acme/comms-leads": ["Alice", "bob"]})
    assert verdict.because == ["content/posts/us/a.md"]
    assert verdict.counted == ["alice"]  # zed approved but is not a lead; logins compare case-blind
    assert verdict.stale == ["bob"]
    assert not verdict.met


# -- cmops approvals check ----------------------------------------------------------------------

def test_crisis_post_needs_two_current_lead_approvals(ws: Ws, github: GH) -> None:
    fake, _ = github
    crisis_pull(fake)
    pull = fake.pulls[7]
    pull.review("alice", "APPROVED")  # comms and comms-leads
    pull.review("bob", "APPROVED", OLD)  # a lead, but approved before the last push
    pull.review("zed", "APPROVED")  # nobody the policy names
    outcome = ws.cli("approvals", "check", "--pr", "7", "--status")
    assert outcome.code == 1, outcome.output
    out = outcome.stdout
    assert "unmet: crisis posts need two comms leads" in out
    assert "ok   every post needs one reviewer from the comms team: 1 of 1 approval(s) (alice)" in out
    assert "MISSING crisis posts need two comms leads: 1 of 2 approval(s) (alice)" in out
    assert "approved an earlier commit, must approve again: bob" in out
    assert "can approve: @acme/comms-leads (bob, erin)" in out
    assert "policy changes" not in out  # no file under policies/ changed
    assert fake.statuses == [{"sha": HEAD, "state": "failure", "context": "cmops/approvals",
                              "description": "unmet: crisis posts need two comms leads"}]
    # Only the teams of rules that apply were asked for, with the read:org token.
    team_calls = [r for r in fake.requests if "/teams/" in r.url.path]
    assert sorted(r.url.path for r in team_calls) == ["/orgs/acme/teams/comms-leads/members",
                                                      "/orgs/acme/teams/comms/members"]
    assert all(r.headers["authorization"] == f"Bearer {ORG_TOKEN}" for r in team_calls)
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in fake.requests if r not in team_calls)

    pull.review("bob", "APPROVED")  # re-approves the current commit
    outcome = ws.cli("approvals", "check", "--pr", "7", "--status")
    assert outcome.code == 0, outcome.output
    assert "all 2 approval rule(s) met" in outcome.stdout
    assert fake.statuses[-1]["state"] == "success"


def test_removing_the_crisis_tag_still_needs_the_crisis_approvers(
        ws: Ws, github: GH) -> None:
    fake, _ = github
    pull = fake.pull(8, HEAD, BASE)
    pull.files = [{"filename": "content/posts/us/outage.md", "status": "modified"}]
    fake.file("content/posts/us/outage.md", BASE, CRISIS_POST)
    fake.file("content/posts/us/outage.md", HEAD, PLAIN_POST)
    pull.review("carol", "APPROVED")
    outcome = ws.cli("approvals", "check", "--pr", "8")
    assert outcome.code == 1
    assert "MISSING crisis posts need two comms leads: 0 of 2 approval(s) (nobody yet)" in outcome.stdout


def test_a_renamed_post_is_judged_by_both_names_and_a_removed_one_by_its_old_text(
        ws: Ws, github: GH) -> None:
    fake, _ = github
    pull = fake.pull(9, HEAD, BASE)
    pull.files = [{"filename": "content/posts/us/gone.md", "status": "removed"},
                  {"filename": "drafts/old.md", "previous_filename": "content/posts/us/moved.md",
                   "status": "renamed"}]
    fake.file("content/posts/us/gone.md", BASE, PLAIN_POST)
    fake.file("content/posts/us/moved.md", BASE, CRISIS_POST)
    pull.review("alice", "APPROVED")
    pull.review("erin", "APPROVED")
    outcome = ws.cli("approvals", "check", "--pr", "9")
    assert outcome.code == 0, outcome.output
    # The crisis tag travels with the renamed file; the path rule sees the old name.
    assert "applies because of drafts/old.md, content/posts/us/moved.md\n" in outcome.stdout
    assert "applies because of content/posts/us/gone.md, content/posts/us/moved.md\n" in outcome.stdout
    # The removed post was read at the base; nothing was asked for at the head.
    assert fake.calls("GET", r"/contents/content/posts/us/gone\.md") == 1


def test_a_policy_change_needs_legal_and_the_policy_read_is_the_checked_out_one(
        ws: Ws, github: GH) -> None:
    fake, _ = github
    pull = fake.pull(10, HEAD, BASE)
    pull.files = [{"filename": "policies/approvals.yaml", "status": "modified"}]
    pull.review("lena", "APPROVED")
    outcome = ws.cli("approvals", "check", "--pr", "10")
    assert outcome.code == 0, outcome.output
    assert "ok   policy changes need legal: 1 of 1 approval(s) (lena)" in outcome.stdout


def test_paging_through_many_files_reviews_and_members(ws: Ws, github: GH) -> None:
    fake, _ = github
    pull = fake.pull(11, HEAD, BASE)
    pull.files = [{"filename": f"public/assets/{i}.png", "status": "added"} for i in range(230)]
    pull.files.append({"filename": "policies/voice.yaml", "status": "modified"})
    for i in range(250):
        pull.review(f"fan{i}", "COMMENTED")
    pull.review("lena2", "APPROVED")  # the 251st review, on the third page
    fake.teams["acme/legal"] = [f"member{i}" for i in range(150)] + ["lena2"]
    outcome = ws.cli("approvals", "check", "--pr", "11")
    assert outcome.code == 0, outcome.output
    assert "(lena2)" in outcome.stdout
    assert fake.calls("GET", r"/pulls/11/files$") == 3
    assert fake.calls("GET", r"/pulls/11/reviews$") == 3
    assert fake.calls("GET", r"/teams/legal/members$") == 2


def test_no_approval_policy_means_nothing_to_enforce(ws: Ws, github: GH) -> None:
    fake, _ = github
    crisis_pull(fake)
    ws.path("policies/approvals.yaml").unlink()
    outcome = ws.cli("approvals", "check", "--pr", "7", "--status")
    assert outcome.code == 0
    assert "no approval policy" in outcome.stdout
    assert fake.statuses[-1]["state"] == "success"


def test_a_broken_policy_is_a_usage_error_with_file_and_line(
        ws: Ws, github: GH) -> None:
    fake, _ = github
    crisis_pull(fake)
    ws.replace("policies/approvals.yaml", "approvals: 2", "approvals: two")
    outcome = ws.cli("approvals", "check", "--pr", "7")
    assert outcome.code == 2
    assert "policies/approvals.yaml:" in outcome.stderr
    assert fake.requests == []


def test_a_head_that_moved_on_is_left_to_the_newer_run(ws: Ws, github: GH) -> None:
    fake, _ = github
    crisis_pull(fake)
    outcome = ws.cli("approvals", "check", "--pr", "7", "--head", OLD, "--status")
    assert outcome.code == 0
    assert "the run for the newer commit checks it" in outcome.stderr
    assert fake.statuses == []


def test_the_number_from_an_artifact_must_be_digits(ws: Ws, tmp_path: object,
                                                   github: GH) -> None:
    fake, _ = github
    bad = ws.write("number", "7; rm -rf /\n")
    outcome = ws.cli("approvals", "check", "--pr-file", str(bad))
    assert outcome.code == 2
    assert "does not hold a pull-request number" in outcome.stderr
    assert fake.requests == []


def test_without_a_read_org_token_the_team_error_says_what_to_do(
        ws: Ws, github: GH, monkeypatch: pytest.MonkeyPatch) -> None:
    fake, _ = github
    crisis_pull(fake)
    monkeypatch.delenv("CMOPS_TEAMS_TOKEN")
    outcome = ws.cli("approvals", "check", "--pr", "7")
    assert outcome.code == 1
    assert "Resource not accessible by integration" in outcome.stderr
    assert "lacks a permission" in outcome.stderr


# -- rate limits, server errors, bad tokens -----------------------------------------------------

def test_secondary_and_primary_rate_limits_are_waited_out(
        ws: Ws, github: GH) -> None:
    fake, slept = github
    crisis_pull(fake)
    fake.fail_next("GET", r"/pulls/7$", 403, {"retry-after": "30"},
                   "You have exceeded a secondary rate limit. Please wait a few minutes.")
    fake.fail_next("GET", r"/reviews$", 429, {"x-ratelimit-remaining": "0",
                                              "x-ratelimit-reset": str(int(fake.clock()) + 41)})
    fake.fail_next("GET", r"/files$", 502)
    outcome = ws.cli("approvals", "check", "--pr", "7")
    assert outcome.code == 1  # unmet, but checked
    assert "MISSING" in outcome.stdout
    assert slept == [30.0, 1.0, 42.0]


def test_a_rate_limit_longer_than_two_minutes_fails_the_step_clearly(
        ws: Ws, github: GH) -> None:
    fake, slept = github
    crisis_pull(fake)
    fake.fail_next("GET", r"/pulls/7$", 403, {"x-ratelimit-remaining": "0",
                                              "x-ratelimit-reset": str(int(fake.clock()) + 3600)})
    outcome = ws.cli("approvals", "check", "--pr", "7")
    assert outcome.code == 1
    assert "rate limit" in outcome.stderr and "3601 s" in outcome.stderr
    assert slept == []


def test_server_errors_are_retried_a_bounded_number_of_times(
        ws: Ws, github: GH) -> None:
    fake, slept = github
    crisis_pull(fake)
    for _ in range(4):
        fake.fail_next("GET", r"/pulls/7$", 503)
    outcome = ws.cli("approvals", "check", "--pr", "7")
    assert outcome.code == 1
    assert "answered 503 to GET /repos/acme/social/pulls/7 4 times" in outcome.stderr
    assert slept == [1.0, 2.0, 4.0]


def test_a_bad_token_or_none_is_a_clear_error(ws: Ws, github: GH,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    fake, _ = github
    crisis_pull(fake)
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_revoked")
    outcome = ws.cli("approvals", "check", "--pr", "7")
    assert outcome.code == 1
    assert "401 Bad credentials" in outcome.stderr and "expired or revoked" in outcome.stderr
    assert "ghs_revoked" not in outcome.output
    monkeypatch.delenv("GITHUB_TOKEN")
    outcome = ws.cli("approvals", "check", "--pr", "7")
    assert outcome.code == 2
    assert "set GITHUB_TOKEN" in outcome.stderr


# -- cmops github comment-plan ------------------------------------------------------------------

def test_the_plan_is_one_comment_updated_in_place(ws: Ws, github: GH) -> None:
    fake, _ = github
    crisis_pull(fake)
    fake.comment_by(7, "reviewer", "Looks good, but see <!-- cmops:plan --> in the docs")
    plan = ws.write("plan.md", "### cmops plan\n\n| later | `us/outage` | bsky-us |\n")
    first = ws.cli("github", "comment-plan", "--pr", "7", "--plan", str(plan))
    assert first.code == 0, first.output
    assert "plan comment on #7: created" in first.stdout
    again = ws.cli("github", "comment-plan", "--pr", "7", "--plan", str(plan))
    assert "unchanged" in again.stdout
    assert fake.calls("PATCH", "/comments/") == 0
    ws.write("plan.md", "### cmops plan\n\n| later | `us/outage` | bsky-us, masto |\n")
    pull = fake.pulls[7]
    pull.push("d" * 40)
    third = ws.cli("github", "comment-plan", "--pr", "7", "--plan", str(plan), "--head", "d" * 40)
    assert "updated" in third.stdout
    ours = [c for c in fake.comments[7] if c["body"].startswith("<!-- cmops:plan -->")]
    assert len(ours) == 1
    assert "bsky-us, masto" in ours[0]["body"] and "(now at ddddddd)" in ours[0]["body"]
    assert fake.comments[7][0]["body"].startswith("Looks good")  # the reviewer's comment untouched
    assert fake.calls("POST", "/comments$") == 1


def test_a_comment_created_despite_an_error_is_not_created_twice(
        ws: Ws, github: GH) -> None:
    fake, _ = github
    crisis_pull(fake)
    fake.fail_next("POST", r"/issues/7/comments$", 502, after=True)
    plan = ws.write("plan.md", "### cmops plan\n")
    outcome = ws.cli("github", "comment-plan", "--pr", "7", "--plan", str(plan))
    assert outcome.code == 0, outcome.output
    assert len(fake.comments[7]) == 1
    assert fake.calls("POST", "/comments$") == 1  # a 5xx on a create is checked, not retried


def test_a_plan_for_an_older_commit_does_not_overwrite_the_newer_one(
        ws: Ws, github: GH) -> None:
    fake, _ = github
    crisis_pull(fake)
    plan = ws.write("plan.md", "### old plan\n")
    outcome = ws.cli("github", "comment-plan", "--pr", "7", "--plan", str(plan), "--head", OLD)
    assert outcome.code == 0
    assert "the run for the newer commit updates the comment" in outcome.stderr
    assert fake.comments.get(7, []) == []


# -- failing closed ----------------------------------------------------------------------------

def test_a_crisis_post_with_bom_crlf_and_a_hash_in_its_name_still_needs_the_leads(
        ws: Ws, github: GH) -> None:
    fake, _ = github
    pull = fake.pull(20, HEAD, BASE)
    name = "content/posts/us/outage#1.md"
    pull.files = [{"filename": name, "status": "added"}]
    fake.contents[(name, HEAD)] = b"\xef\xbb\xbf" + CRISIS_POST.replace("\n", "\r\n").encode()
    pull.review("alice", "APPROVED")
    outcome = ws.cli("approvals", "check", "--pr", "20")
    assert outcome.code == 1
    assert "MISSING crisis posts need two comms leads" in outcome.stdout


def test_a_post_that_cannot_be_read_matches_every_rule(ws: Ws, github: GH) -> None:
    fake, _ = github
    pull = fake.pull(21, HEAD, BASE)
    pull.files = [{"filename": "content/posts/us/link.md", "status": "added"},
                  {"filename": "content/posts/us/broken.md", "status": "added"}]
    fake.symlinks.add(("content/posts/us/link.md", HEAD))
    fake.file("content/posts/us/broken.md", HEAD, "---\ntags: [crisis\n---\nunclosed\n")
    pull.review("alice", "APPROVED")
    outcome = ws.cli("approvals", "check", "--pr", "21")
    assert outcome.code == 1
    assert ("MISSING crisis posts need two comms leads: 1 of 2 approval(s) (alice)\n"
            "       applies because of content/posts/us/link.md, content/posts/us/broken.md"
            ) in outcome.stdout


def test_a_pull_request_too_big_to_list_is_refused_not_waved_through(ws: Ws, github: GH) -> None:
    fake, _ = github
    pull = fake.pull(22, HEAD, BASE)
    pull.files = [{"filename": f"public/{i}.txt", "status": "added"} for i in range(3000)]
    pull.files.append({"filename": "content/posts/us/outage.md", "status": "added"})
    outcome = ws.cli("approvals", "check", "--pr", "22", "--status")
    assert outcome.code == 1
    assert "changes 3001 files but GitHub lists only 3000" in outcome.stderr
    assert fake.statuses == []


def test_file_names_from_the_pull_request_cannot_inject_workflow_commands(ws: Ws, github: GH) -> None:
    fake, _ = github
    pull = fake.pull(23, HEAD, BASE)
    pull.files = [{"filename": "policies/x\n::error::forged", "status": "added"}]
    outcome = ws.cli("approvals", "check", "--pr", "23")
    assert outcome.code == 1  # the policy rule applies: ** matches across a line break too
    assert "\n::error" not in outcome.stdout
    assert "policies/x\\n::error::forged" in outcome.stdout


def test_a_person_pasting_the_marker_does_not_take_over_the_plan_comment(ws: Ws, github: GH) -> None:
    fake, _ = github
    crisis_pull(fake)
    fake.comment_by(7, "mallory", "<!-- cmops:plan -->\nNothing will be published.")
    plan = ws.write("plan.md", "### cmops plan\n")
    outcome = ws.cli("github", "comment-plan", "--pr", "7", "--plan", str(plan))
    assert "created" in outcome.stdout
    assert fake.comments[7][0]["body"] == "<!-- cmops:plan -->\nNothing will be published."
    assert fake.comments[7][1]["user"]["type"] == "Bot"


def test_only_recent_posts_are_reported_so_installing_the_workflow_does_not_backfill() -> None:
    from datetime import UTC, datetime

    from cmops.ledger import PUBLISHED, Ledger, PartState, Track
    from cmops.platforms.base import Sent
    from cmops.prcomments import pending

    book = Ledger()
    for post, when in (("old", "2026-01-05T10:00:00.000Z"), ("new", "2026-11-20T10:00:00.000Z")):
        book.tracks[(post, "masto")] = Track(post, "masto", {0: PartState(
            PUBLISHED, sent=Sent("1", url=f"https://social.example/@brand/{post}"))},
            first_published_at=when)
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert list(pending(book, now)) == ["new"]
    body, digest = pending(book, now)["new"]
    assert "https://social.example/@brand/new" in body
    book.reported["new"] = digest
    assert pending(book, now) == {}
