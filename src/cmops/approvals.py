"""``cmops approvals check``: does a pull request have the approvals policies/approvals.yaml
asks for?

A rule applies when any changed file meets all of its ``match`` conditions: a path glob, or
(for posts) a tag, campaign or channel. A post counts with both its old and its new version,
so taking the ``crisis`` tag off a post still needs the crisis approvers. The rule is met when
enough distinct people from its ``from`` list approve the pull request's current head
commit: an approval of an earlier commit is stale (it did not see the last push), and a
later "changes requested" or a dismissal withdraws it.

Deciding is a pure function (:func:`judge`) of the rules, the changes, the reviews and the
team members; :func:`check` gathers those from GitHub.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cmops.errors import ConfigError
from cmops.findings import Finding
from cmops.github import GitHub, GitHubError, Superseded
from cmops.posts import POSTS_DIR, split_front_matter

POLICY = "policies/approvals.yaml"
STATUS_CONTEXT = "cmops/approvals"


@dataclass(frozen=True)
class Rule:
    name: str
    approvals: int
    approvers: tuple[str, ...]
    paths: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    campaigns: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Change:
    """One changed file; for a post, what its front matter says (old and new version merged)."""

    path: str
    post: bool = False
    tags: frozenset[str] = frozenset()
    campaigns: frozenset[str] = frozenset()
    channels: frozenset[str] = frozenset()
    #: A post whose front matter could not be read: every condition on tags, campaigns and
    #: channels counts as met (fail closed: an unreadable post is never exempt from review).
    unknown: bool = False


@dataclass
class Verdict:
    rule: Rule
    #: The changed files that made the rule apply.
    because: list[str]
    #: Approvers of the head commit who count for this rule.
    counted: list[str]
    #: People in the rule's list whose approval is of an earlier commit.
    stale: list[str] = field(default_factory=list)
    #: Who else could approve (logins), for the message.
    could: list[str] = field(default_factory=list)

    @property
    def met(self) -> bool:
        return len(self.counted) >= self.rule.approvals


def glob_match(path: str, pattern: str) -> bool:
    """Glob with ``**`` for any depth (``content/posts/**``) and ``*`` within one folder."""
    regex = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            regex += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            regex += ".*"
            i += 2
        elif pattern[i] == "*":
            regex += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            regex += "[^/]"
            i += 1
        else:
            regex += re.escape(pattern[i])
            i += 1
    return re.fullmatch(regex, path, re.DOTALL) is not None


def applies(rule: Rule, change: Change) -> bool:
    """All given conditions hold for this file (a rule without conditions: every file)."""
    if rule.paths and not any(glob_match(change.path, p) for p in rule.paths):
        return False
    if change.unknown and change.post:
        return True
    if rule.tags and not change.tags & set(rule.tags):
        return False
    if rule.campaigns and not change.campaigns & set(rule.campaigns):
        return False
    return not (rule.channels and not change.channels & set(rule.channels))


def approvals_of(reviews: Iterable[Mapping[str, Any]], head: str, author: str) -> tuple[set[str], set[str]]:
    """(approvers of ``head``, approvers of an earlier commit only), as lower-case logins.

    Each person's latest deciding review counts (GitHub lists reviews oldest first);
    comments do not change it, "changes requested" and dismissals withdraw an approval.
    The author cannot approve their own pull request.
    """
    latest: dict[str, Mapping[str, Any]] = {}
    for review in reviews:
        login = str((review.get("user") or {}).get("login", "")).lower()
        state = review.get("state")
        if not login or state not in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED"):
            continue
        latest[login] = review
    current: set[str] = set()
    stale: set[str] = set()
    for login, review in latest.items():
        if review.get("state") != "APPROVED" or login == author.lower():
            continue
        (current if review.get("commit_id") == head else stale).add(login)
    return current, stale


def judge(rules: Iterable[Rule], changes: Iterable[Change], current: set[str], stale: set[str],
          members: Mapping[str, Iterable[str]]) -> list[Verdict]:
    """The verdict of every rule that applies to these changes."""
    changes = list(changes)
    verdicts = []
    for rule in rules:
        because = [c.path for c in changes if applies(rule, c)]
        if not because:
            continue
        eligible = _eligible(rule, members)
        verdicts.append(Verdict(rule, because, sorted(current & eligible), sorted(stale & eligible),
                                sorted(eligible - current)))
    return verdicts


def _eligible(rule: Rule, members: Mapping[str, Iterable[str]]) -> set[str]:
    people: set[str] = set()
    for entry in rule.approvers:
        name = entry.lstrip("@")
        if "/" in name:
            people.update(m.lower() for m in members.get(name.lower(), ()))
        else:
            people.add(name.lower())
    return people


def load_rules(root: Path) -> tuple[list[Rule] | None, list[Finding]]:
    """The rules of policies/approvals.yaml; None when the file does not exist."""
    from cmops.workspace import load_yaml_file, single

    source = single(root, POLICY)
    if not Path(source.path).is_file():
        return None, []
    doc, findings = load_yaml_file(root, source, "approvals")
    if doc is None:
        return [], findings or [Finding(POLICY, 1, 1, "$", "approvals.unreadable", "error",
                                        "the approval policy cannot be read")]
    rules = []
    for item in doc.data.get("rules", []):
        match = item.get("match") or {}
        rules.append(Rule(item["name"], item["approvals"], tuple(item["from"]),
                          tuple(match.get("paths", ())), tuple(match.get("tags", ())),
                          tuple(match.get("campaigns", ())), tuple(match.get("channels", ()))))
    return rules, findings


def post_facts(path: str, data: bytes | None) -> Change:
    """What the approval rules look at in one version of a post (nothing if unreadable)."""
    if data is None:
        return Change(path, post=True, unknown=True)
    from cmops import yamlfile
    from cmops.sources import decode_text

    text, _ = decode_text(data, path)  # as the workspace reads it: BOM and CRLF handled
    front = split_front_matter(text, path) if text is not None else None
    if front is None or isinstance(front, Finding):
        return Change(path, post=True, unknown=True)
    doc, _ = yamlfile.load(front[0], path)
    if doc is None or not isinstance(doc.data, dict):
        return Change(path, post=True, unknown=True)
    meta = doc.data

    def strings(value: Any) -> frozenset[str]:
        if isinstance(value, str):
            return frozenset([value])
        return frozenset(str(v) for v in value) if isinstance(value, list) else frozenset()

    return Change(path, True, strings(meta.get("tags")), strings(meta.get("campaign")),
                  strings(meta.get("channels")))


def merged(path: str, versions: Iterable[Change]) -> Change:
    versions = list(versions)
    return Change(path, True, frozenset().union(*(v.tags for v in versions)),
                  frozenset().union(*(v.campaigns for v in versions)),
                  frozenset().union(*(v.channels for v in versions)),
                  unknown=any(v.unknown for v in versions))


def is_post(path: str) -> bool:
    return path.startswith(POSTS_DIR + "/") and path.endswith(".md")


def changes_of(gh: GitHub, files: Iterable[Mapping[str, Any]], head: str, base: str) -> list[Change]:
    """The pull request's changed files; posts read at the head (new version) and at the
    base (old version) through the API, never by running anything of the pull request."""
    changes: list[Change] = []
    for item in files:
        name = str(item.get("filename", ""))
        status = item.get("status")
        old = str(item.get("previous_filename") or name)
        names = [name] if old == name else [name, old]
        if not any(is_post(n) for n in names):
            changes.extend(Change(n) for n in names)
            continue
        versions = []
        if status != "removed" and is_post(name):
            versions.append(post_facts(name, gh.file_at(name, head)))
        if status != "added" and is_post(old):
            versions.append(post_facts(old, gh.file_at(old, base)))
        changes.extend(merged(n, versions) for n in names)
    return changes


@dataclass
class Outcome:
    number: int
    head: str
    verdicts: list[Verdict]
    policy_found: bool = True

    @property
    def met(self) -> bool:
        return all(v.met for v in self.verdicts)

    def summary(self) -> str:
        if not self.policy_found:
            return "no approval policy (policies/approvals.yaml)"
        unmet = [v for v in self.verdicts if not v.met]
        if not self.verdicts:
            return "no approval rule applies to these changes"
        if not unmet:
            return f"all {len(self.verdicts)} approval rule(s) met"
        return f"unmet: {unmet[0].rule.name}" + (f" (+{len(unmet) - 1} more)" if len(unmet) > 1 else "")


def check(root: Path, gh: GitHub, number: int, head_sha: str | None = None,
          teams_gh: GitHub | None = None) -> Outcome:
    rules, findings = load_rules(root)
    errors = [f for f in findings if f.severity == "error"]
    if errors:
        first = errors[0]
        raise ConfigError(f"{first.file}:{first.line}: {first.message} (fix the approval policy first)")
    pull = gh.pull(number)
    head = str((pull.get("head") or {}).get("sha", ""))
    base = str((pull.get("base") or {}).get("sha", ""))
    if head_sha is not None and head_sha != head:
        raise Superseded(f"pull request #{number} is now at {head[:7]}, not {head_sha[:7]}: "
                         "the run for the newer commit checks it")
    if rules is None:
        return Outcome(number, head, [], policy_found=False)
    author = str((pull.get("user") or {}).get("login", ""))
    files = gh.pull_files(number)
    expected = pull.get("changed_files")
    if isinstance(expected, int) and len(files) < expected:
        raise GitHubError(f"pull request #{number} changes {expected} files but GitHub lists only "
                          f"{len(files)} (it stops at 3000): split it into smaller pull requests")
    changes = changes_of(gh, files, head, base)
    current, stale = approvals_of(gh.reviews(number), head, author)
    # Only the teams of rules that apply are asked for (each is one or more API calls).
    wanted = {e.lstrip("@").lower() for r in rules if any(applies(r, c) for c in changes)
              for e in r.approvers if "/" in e}
    members = {}
    for team in sorted(wanted):
        org, slug = team.split("/", 1)
        members[team] = (teams_gh or gh).team_members(org, slug)
    return Outcome(number, head, judge(rules, changes, current, stale, members))


def report(outcome: Outcome) -> str:
    lines = [f"Approvals for pull request #{outcome.number} (head {outcome.head[:7]}): {outcome.summary()}"]
    for verdict in outcome.verdicts:
        rule = verdict.rule
        mark = "ok  " if verdict.met else "MISSING"
        who = ", ".join(verdict.counted) or "nobody yet"
        lines.append(f"  {mark} {rule.name}: {len(verdict.counted)} of {rule.approvals} "
                     f"approval(s) ({who})")
        more = len(verdict.because) - 3
        shown = ", ".join(_printable(p) for p in verdict.because[:3])
        shown += f" and {more} more" if more > 0 else ""
        lines.append(f"       applies because of {shown}")
        if not verdict.met:
            if verdict.stale:
                again = ", ".join(verdict.stale)
                lines.append(f"       approved an earlier commit, must approve again: {again}")
            could = ", ".join(verdict.could[:10]) + (" …" if len(verdict.could) > 10 else "")
            who_can = ", ".join(rule.approvers) + (f" ({could})" if could else "")
            lines.append(f"       can approve: {who_can}")
    return "\n".join(lines)


def _printable(path: str) -> str:
    """A file name from the pull request, safe to print in a workflow log (no line breaks,
    so no workflow command can be smuggled in)."""
    return path.encode("unicode_escape").decode("ascii")


def publish_status(gh: GitHub, outcome: Outcome, url: str | None, say: Callable[[str], None]) -> None:
    state = "success" if outcome.met else "failure"
    gh.set_status(outcome.head, state, STATUS_CONTEXT, outcome.summary(), url)
    say(f"set the {STATUS_CONTEXT} status of {outcome.head[:7]} to {state}")
