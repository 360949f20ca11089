"""The ``cmops`` command. Parses options and wires calls; heavy imports happen inside commands
so that ``cmops --help`` starts fast."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TextIO

import click

from cmops.errors import EXIT_BUG, EXIT_FINDINGS, EXIT_USAGE, CmopsError


class Context:
    def __init__(self, root: Path | None, color: bool, verbose: int) -> None:
        self._root = root
        self.color = color
        self.verbose = verbose

    @property
    def root(self) -> Path:
        from cmops.workspace import find_root

        if self._root is not None:
            if not (self._root / "cmops.yaml").is_file():
                from cmops.errors import ConfigError

                raise ConfigError(f"--root {self._root}: there is no cmops.yaml in it")
            return self._root.resolve()
        return find_root(Path.cwd())


pass_ctx = click.make_pass_decorator(Context)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--root", type=click.Path(file_okay=False, path_type=Path),
              help="Workspace directory (default: the nearest folder with cmops.yaml).")
@click.option("--no-color", is_flag=True, help="Plain output without colours.")
@click.option("-v", "--verbose", count=True, help="More detail; shows tracebacks of internal bugs.")
@click.version_option(package_name="cmops")
@click.pass_context
def cli(ctx: click.Context, root: Path | None, no_color: bool, verbose: int) -> None:
    """cmops: your brand's posts, calendars and response policies as files in git,
    checked before review and published on time.

    Start with 'cmops init DIR', then 'cmops validate' inside it.
    """
    color = not no_color and sys.stdout.isatty()
    ctx.obj = Context(root, color, verbose)


@cli.command()
@click.argument("directory", required=False, default=".",
                type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Write into a folder that already has files.")
@click.option("--pip-spec", metavar="SPEC",
              help="What the GitHub workflows install (default: this version of cmops from PyPI), e.g. "
                   "'cmops @ git+https://github.com/OWNER/cmops@COMMIT'.")
def init(directory: Path, force: bool, pip_spec: str | None) -> None:
    """Create a working example workspace in DIRECTORY (default: here), with the GitHub
    workflows that validate pull requests and publish from main (.github/workflows/).

    It validates cleanly and publishes to the built-in feed channel without any account.
    """
    from cmops.scaffold import write_workspace

    written = write_workspace(directory, force=force, pip_spec=pip_spec)
    click.echo(f"Created a cmops workspace in {directory} ({len(written)} files).")
    click.echo("Next: cd into it, run 'cmops validate', then 'cmops preview <post id>'.")


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github"]), default="text",
              show_default=True, help="text for people, json for tools, github for annotations.")
@click.option("--strict", is_flag=True, help="Warnings fail too.")
@click.option("--changed-since", "ref", metavar="REF",
              help="Only report on files changed since this git ref (plus the workspace-wide "
                   "rules they can break, such as cadence and duplicates).")
@pass_ctx
def validate(obj: Context, paths: tuple[str, ...], fmt: str, strict: bool, ref: str | None) -> None:
    """Check posts, calendars and policies; report every problem with file and line.

    Exit code 0 when clean, 1 when there are errors (or warnings with --strict).
    """
    from cmops import render, validation

    root = obj.root
    only: list[str] | None = None
    if paths:
        only = validation.relative_paths(root, paths)
    if ref is not None:
        changed = validation.changed_since(root, ref)
        only = changed if only is None else [p for p in changed if validation.under_any(p, only)]
    result = validation.run(root, only)
    prefix = validation.repo_prefix(root) if fmt == "github" else ""
    output = render.render(result.findings, fmt, color=obj.color, prefix=prefix)
    if output:
        click.echo(output)
    if fmt == "text":
        click.echo(render.summary(result.findings, result.checked), err=bool(result.findings))
    if result.failed(strict):
        sys.exit(EXIT_FINDINGS)


@cli.command()
@click.argument("post")
@click.option("--channel", "channels", multiple=True, metavar="ID",
              help="Only this channel (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Output format.")
@pass_ctx
def preview(obj: Context, post: str, channels: tuple[str, ...], fmt: str) -> None:
    """Show how each channel will publish POST: parts, lengths, time and media.

    POST is a post id (its path under content/posts/ without .md) or a path to the file.
    Exits 1 when the post has errors (they are listed under the preview).
    """
    from cmops.preview import preview_post

    text, has_errors = preview_post(obj.root, post, list(channels), fmt)
    click.echo(text)
    if has_errors:
        sys.exit(EXIT_FINDINGS)


@cli.command()
@click.option("--from", "start", metavar="DATE", help="First day, YYYY-MM-DD (default: today).")
@click.option("--to", "end", metavar="DATE", help="Last day, YYYY-MM-DD (default: 30 days on).")
@click.option("--format", "fmt", type=click.Choice(["text", "ics"]), default="text",
              show_default=True, help="text by day, or ics for Google Calendar / Thunderbird.")
@pass_ctx
def calendar(obj: Context, start: str | None, end: str | None, fmt: str) -> None:
    """The publishing schedule by day, in the workspace's time zone."""
    from cmops.calendar import show_calendar

    click.echo(show_calendar(obj.root, start, end, fmt), nl=fmt != "ics")


@cli.command()
@click.option("--at", metavar="TIME", help="Plan as if it were this time (ISO 8601 with offset).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text",
              show_default=True, help="text for people, json for tools, markdown for a PR comment.")
@click.option("--only", "only", metavar="POST", help="Only this post (its id).")
@click.option("--changed-since", "ref", metavar="REF",
              help="Only the posts whose files changed since this git ref (a pull request's posts).")
@pass_ctx
def plan(obj: Context, at: str | None, fmt: str, only: str | None, ref: str | None) -> None:
    """What 'cmops publish' would do now, and why: publish, wait, finish a thread, edit,
    delete, skip a missed post; with each time in UTC and in the channel's zone.

    Changes nothing. Posts scheduled beyond the lookahead are listed as 'later'.
    """
    from cmops.publishing import show_plan

    root = obj.root
    changed = None
    if ref is not None:
        from cmops.validation import changed_since

        changed = changed_since(root, ref)
    click.echo(show_plan(root, at, fmt, only, changed))


@cli.command()
@click.option("--at", metavar="TIME", help="Run as if it were this time (ISO 8601 with offset); waits "
              "are then simulated, not slept.")
@click.option("--dry-run", is_flag=True, help="Show what would happen; call no platform, write nothing.")
@click.option("--only", "only", metavar="POST", help="Only this post (its id).")
@click.option("--commit", is_flag=True, help="Commit the receipts and feed files it wrote.")
@click.option("--push", is_flag=True, help="Commit and push (rebasing and retrying when the branch moved).")
@pass_ctx
def publish(obj: Context, at: str | None, dry_run: bool, only: str | None, commit: bool, push: bool) -> None:
    """Publish every post that is due, exactly once, and record receipts under state/.

    Posts due within the lookahead are waited for and published on the minute; posts past
    the grace period are reported as missed, not posted stale. Exits 1 when anything is left
    undone (it says what), so CI shows it. Secrets come from the environment variables
    cmops.yaml names.
    """
    from cmops.publishing import run_publish

    code = run_publish(obj.root, at=at, dry_run=dry_run, only=only, commit=commit or push, push=push,
                       say=click.echo)
    if code:
        sys.exit(code)


@cli.command()
@click.argument("post")
@click.argument("channel")
@click.option("--sent", "sent_url", metavar="URL", help="It did go out; where (URL or the platform's id).")
@click.option("--not-sent", is_flag=True, help="It did not go out; the next publish sends it.")
@pass_ctx
def resolve(obj: Context, post: str, channel: str, sent_url: str | None, not_sent: bool) -> None:
    """Settle an UNCONFIRMED post after checking the channel by hand.

    A run that was interrupted while sending to a platform that cannot be asked (Discord,
    Slack) marks the post unconfirmed instead of risking a double post. Look at the channel,
    then say what you found.
    """
    from cmops.errors import UsageError
    from cmops.publishing import resolve as record

    if (sent_url is None) == (not not_sent):
        raise UsageError("say either --sent URL or --not-sent")
    click.echo(record(obj.root, post, channel, sent_url, None))


@cli.group()
def metrics() -> None:
    """Counts of published posts (likes, reposts, replies, quotes), kept under metrics/."""


@metrics.command("snapshot")
@click.option("--at", metavar="TIME", help="Run as if it were this time (ISO 8601 with offset).")
@click.option("--commit", is_flag=True, help="Commit the new snapshots.")
@click.option("--push", is_flag=True, help="Commit and push them (rebasing when the branch moved).")
@pass_ctx
def metrics_snapshot(obj: Context, at: str | None, commit: bool, push: bool) -> None:
    """Fetch the counts of every published post whose age has passed a mark (cmops.yaml
    metrics.marks; default 1h, 1d, 7d, 30d) that is not yet recorded.

    Bluesky and Mastodon give counts; the feed, Discord and Slack do not (they are skipped,
    and reports say so). A post deleted on the platform is recorded as gone once. Exits 1
    when some snapshots could not be taken (it says which); the next run takes them.
    """
    from cmops.snapshot import run_snapshot

    progress = None
    bar: Any = None
    if sys.stdout.isatty():
        def progress(done: int, total: int) -> None:
            nonlocal bar
            if bar is None:
                bar = click.progressbar(length=total, label="snapshots", file=sys.stderr)
                bar.__enter__()
            bar.update(done - bar.pos)
    try:
        code = run_snapshot(obj.root, at=at, commit=commit or push, push=push, say=click.echo,
                            progress=progress)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    if code:
        sys.exit(code)


@cli.command()
@click.argument("campaign", required=False)
@click.option("--from", "start", metavar="DATE",
              help="First day, YYYY-MM-DD (default: the campaign's start).")
@click.option("--to", "end", metavar="DATE", help="Last day, YYYY-MM-DD (default: the campaign's end).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown", "html"]), default="text",
              show_default=True, help="text for people, json for tools, markdown for GitHub, html to share.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Write the report to FILE instead of the screen.")
@click.option("--at", metavar="TIME", help="Report as if it were this time (ISO 8601 with offset).")
@pass_ctx
def report(obj: Context, campaign: str | None, start: str | None, end: str | None, fmt: str,
           out: Path | None, at: str | None) -> None:
    """Results against the campaign goals: each goal's target, actual, progress and the pace
    still needed; posts planned, published and missed; which channels and territories
    engage most; top and bottom posts; tags; the best hour and weekday per channel.

    Counts come from 'cmops metrics snapshot' (metrics/), posts from the receipts (state/).
    No platform here exposes impressions, so there is no engagement rate, only counts.
    Without CAMPAIGN: every campaign.
    """
    from cmops.report import show_report

    text = show_report(obj.root, campaign, start, end, fmt, at)
    if out is None:
        click.echo(text, nl=not text.endswith("\n"))
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        from cmops.errors import UsageError

        raise UsageError(f"--out {out}: {exc.strerror}") from None
    click.echo(f"wrote {out}")


def _pr_number(pr: int | None, pr_file: Path | None) -> int:
    from cmops.errors import UsageError
    from cmops.prcomments import read_number

    if (pr is None) == (pr_file is None):
        raise UsageError("say which pull request: --pr N, or --pr-file FILE holding its number")
    if pr is not None:
        if pr < 1:
            raise UsageError(f"--pr {pr}: pull-request numbers start at 1")
        return pr
    assert pr_file is not None
    try:
        text = pr_file.read_text(encoding="utf-8", errors="replace")[:100]
    except OSError as exc:
        raise UsageError(f"--pr-file {pr_file}: {exc.strerror}") from None
    return read_number(text, str(pr_file))


_pr_options = [
    click.option("--pr", type=int, metavar="N", help="The pull request's number."),
    click.option("--pr-file", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
                 help="Read the number from FILE (the artifact a pull-request job left)."),
    click.option("--head", metavar="SHA", help="Act only if the pull request is still at this commit."),
    click.option("--repo", metavar="OWNER/NAME", help="The repository (default: GITHUB_REPOSITORY)."),
]


def pr_options(func: Callable[..., None]) -> Callable[..., None]:
    for option in reversed(_pr_options):
        func = option(func)
    return func


@cli.group()
def approvals() -> None:
    """Approval rules (policies/approvals.yaml) checked against a pull request's reviews."""


@approvals.command("check")
@pr_options
@click.option("--status", "set_status", is_flag=True,
              help="Also set the commit status 'cmops/approvals' on the pull request's head (make it "
                   "required in branch protection).")
@pass_ctx
def approvals_check(obj: Context, pr: int | None, pr_file: Path | None, head: str | None, repo: str | None,
                    set_status: bool) -> None:
    """Check pull request N against policies/approvals.yaml: which rules apply to its changed
    files, who approved its latest commit, and who still has to. Exit 1 when a rule is unmet.

    Needs GITHUB_TOKEN (pull requests: read; statuses: write with --status). Teams are read
    with CMOPS_TEAMS_TOKEN if set (the workflow token cannot list team members: use a token
    with read:org), else with GITHUB_TOKEN.
    """
    from cmops import approvals as policy
    from cmops.github import connect, run_url

    number = _pr_number(pr, pr_file)
    root = obj.root
    gh = connect(repo, lambda line: click.echo(line, err=True))
    teams = gh
    if os.environ.get("CMOPS_TEAMS_TOKEN"):
        teams = connect(repo, gh.say, env_name="CMOPS_TEAMS_TOKEN")
    outcome = policy.check(root, gh, number, head, teams)
    click.echo(policy.report(outcome))
    if set_status:
        policy.publish_status(gh, outcome, run_url(os.environ), click.echo)
    if not outcome.met:
        sys.exit(EXIT_FINDINGS)


@cli.group()
def github() -> None:
    """The GitHub side of the workflows: the plan comment and the published links."""


@github.command("comment-plan")
@pr_options
@click.option("--plan", "plan_file", required=True, type=click.File("r", encoding="utf-8"), metavar="FILE",
              help="The plan as Markdown ('cmops plan --format markdown' wrote it; - for stdin).")
def github_comment_plan(pr: int | None, pr_file: Path | None, head: str | None, repo: str | None,
                        plan_file: TextIO) -> None:
    """Put the plan on pull request N as one comment, updated in place on every push.

    Needs GITHUB_TOKEN with pull-requests: write. Runs nothing of the pull request: the plan
    is text made by the (unprivileged) pull-request job.
    """
    from cmops.github import connect
    from cmops.prcomments import comment_plan

    number = _pr_number(pr, pr_file)
    gh = connect(repo, lambda line: click.echo(line, err=True))
    click.echo(comment_plan(gh, number, plan_file.read(), head))


@github.command("report-published")
@click.option("--repo", metavar="OWNER/NAME", help="The repository (default: GITHUB_REPOSITORY).")
@click.option("--commit", is_flag=True, help="Commit the 'reported' receipts.")
@click.option("--push", is_flag=True, help="Commit and push them.")
@pass_ctx
def github_report_published(obj: Context, repo: str | None, commit: bool, push: bool) -> None:
    """After publishing: comment each post's links on the pull request that added it.

    One comment per post, updated when more channels go out; posts already reported are
    recorded in state/ and not asked about again. Needs GITHUB_TOKEN with
    pull-requests: write (and contents: write for --push).
    """
    from cmops.github import connect
    from cmops.prcomments import report_published

    root = obj.root
    gh = connect(repo, click.echo)
    code = report_published(root, gh, click.echo, commit=commit or push, push=push,
                            now_iso=os.environ.get("CMOPS_NOW"))
    if code:
        sys.exit(code)


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point: one handler decides how every failure looks and which exit code it gets."""
    verbose = any(a in ("-v", "--verbose") or (a.startswith("-v") and set(a[1:]) == {"v"})
                  for a in (argv if argv is not None else sys.argv[1:]))
    try:
        code = cli.main(args=argv, prog_name="cmops", standalone_mode=False)
    except CmopsError as exc:
        click.echo(f"cmops: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(EXIT_USAGE)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_USAGE)
    except (KeyboardInterrupt, BrokenPipeError):
        sys.exit(EXIT_USAGE)
    except Exception as exc:
        if verbose:
            raise
        click.echo(f"cmops: internal error: {type(exc).__name__}: {exc}\n"
                   "This is a bug in cmops; run again with -v for details and report it.", err=True)
        sys.exit(EXIT_BUG)
    sys.exit(code if isinstance(code, int) else 0)


