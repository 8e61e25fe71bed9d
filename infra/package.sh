#!/usr/bin/env bash
# Package recon for AWS: the Chalice app plus infra/resources.yml in one SAM template.
#
#   infra/package.sh [--stage dev|prod] [OUT_DIR]     (default stage dev, OUT_DIR <repo>/out)
#
# Produces OUT_DIR/sam.yaml and OUT_DIR/deployment.zip, patched by infra/patch_template.py
# (ReportBatchItemFailures on every SQS event source, queue ARNs as GetAtt, visibility
# timeouts >= consumer timeouts, role access to the infra resources), then validated
# with cfn-lint. Deploy with, for example:
#
#   aws cloudformation package --template-file out/sam.yaml --s3-bucket <code-bucket> \
#       --output-template-file out/packaged.yaml
#   aws cloudformation deploy --template-file out/packaged.yaml --stack-name recon-dev \
#       --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND
#
# (or `sam deploy --template-file out/sam.yaml --stack-name recon-dev --resolve-s3
#  --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND`).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STAGE=dev
OUT_DIR=""
PROJECT_DIR="${PROJECT_DIR:-$REPO_ROOT}"
PYTHON="${PYTHON:-$REPO_ROOT/.venv/bin/python}"
[[ -x "$PYTHON" ]] || PYTHON=python3
CHALICE="${CHALICE:-$(dirname "$PYTHON")/chalice}"
[[ -x "$CHALICE" ]] || CHALICE=chalice
MERGE_TEMPLATE="${MERGE_TEMPLATE:-$REPO_ROOT/infra/resources.yml}"

while [[ $# -gt 0 ]]; do
  case "$1" in
    --stage) STAGE="$2"; shift 2 ;;
    --stage=*) STAGE="${1#*=}"; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) OUT_DIR="$1"; shift ;;
  esac
done
OUT_DIR="${OUT_DIR:-$REPO_ROOT/out}"
case "$OUT_DIR" in /*) ;; *) OUT_DIR="$PWD/$OUT_DIR" ;; esac

# chalice package needs a region to render ARNs; it never calls AWS here.
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-${AWS_REGION:-us-east-1}}"

rm -rf "$OUT_DIR"
echo "package.sh: chalice package --stage $STAGE --merge-template $MERGE_TEMPLATE $OUT_DIR" >&2
( cd "$PROJECT_DIR" && "$CHALICE" package --stage "$STAGE" --merge-template "$MERGE_TEMPLATE" "$OUT_DIR" )

( cd "$REPO_ROOT" && "$PYTHON" -m infra.patch_template "$OUT_DIR" )

TEMPLATE="$OUT_DIR/sam.yaml"
[[ -f "$TEMPLATE" ]] || TEMPLATE="$OUT_DIR/sam.json"
CFN_LINT="${CFN_LINT:-$(dirname "$PYTHON")/cfn-lint}"
[[ -x "$CFN_LINT" ]] || CFN_LINT="$(command -v cfn-lint || true)"
if [[ -n "$CFN_LINT" ]]; then
  "$CFN_LINT" -- "$TEMPLATE"
  echo "package.sh: cfn-lint OK" >&2
else
  echo "package.sh: cfn-lint not installed; template not linted" >&2
fi
echo "package.sh: $TEMPLATE and $OUT_DIR/deployment.zip ready" >&2
