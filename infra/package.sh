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
WHEEL_DIR="$(mktemp -d)"; STAGED="$(mktemp -d)"
trap 'rm -rf "$WHEEL_DIR" "$STAGED"' EXIT
# Chalice packages a staged copy of the project whose requirements leave out duckdb (added below):
# infra/stage_project.py says why
( cd "$REPO_ROOT" && "$PYTHON" -m infra.stage_project "$PROJECT_DIR" "$STAGED" )
echo "package.sh: chalice package --stage $STAGE --merge-template $MERGE_TEMPLATE $OUT_DIR" >&2
( cd "$STAGED" && "$CHALICE" package --stage "$STAGE" --merge-template "$MERGE_TEMPLATE" "$OUT_DIR" )

( cd "$REPO_ROOT" && "$PYTHON" -m infra.patch_template "$OUT_DIR" )

# The zip as Lambda needs it: the demo data generators (chalicelib/demo) are for the local stack only
# and never ship; the replicated-tables catalog (config/catalog.yml, CATALOG_PATH's default) does;
# and duckdb is added from its x86_64 CPython 3.11 manylinux2014 wheel, at the version of
# infra/lambda-duckdb.txt: the newest whose wheels load on Lambda's python3.11 runtime (Amazon Linux 2,
# glibc 2.26); requirements.txt's newer DuckDB (manylinux_2_27+) would fail to import there.
DUCKDB_PIN="$(grep -E '^duckdb==' "$REPO_ROOT/infra/lambda-duckdb.txt")"
"$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: --implementation cp --python-version 3.11 \
  --platform manylinux2014_x86_64 --dest "$WHEEL_DIR" "$DUCKDB_PIN" >&2
"$PYTHON" - "$OUT_DIR/deployment.zip" "$REPO_ROOT" "$WHEEL_DIR" <<'PYEOF'
import glob, os, sys, zipfile

path, root, wheels = sys.argv[1:4]
excluded = ("chalicelib/demo/",)
dropped = added = 0
with zipfile.ZipFile(path) as src, zipfile.ZipFile(path + ".tmp", "w", zipfile.ZIP_DEFLATED) as dst:
    names = set(src.namelist())
    for info in src.infolist():
        if info.filename.startswith(excluded):
            dropped += 1
            continue
        dst.writestr(info, src.read(info.filename))
    dst.write(os.path.join(root, "config", "catalog.yml"), "config/catalog.yml")
    if not any(n.startswith("duckdb/") for n in names):
        for wheel in glob.glob(os.path.join(wheels, "duckdb-*.whl")):
            with zipfile.ZipFile(wheel) as whl:
                for info in whl.infolist():
                    dst.writestr(info, whl.read(info.filename))
                    added += 1
os.replace(path + ".tmp", path)
print(f"package.sh: {dropped} local-only file(s) left out of deployment.zip ({', '.join(excluded)}); "
      f"config/catalog.yml added; {added} file(s) of the duckdb wheel added", file=sys.stderr)
PYEOF

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
# the web console's static files (upload OUT_DIR/console to the ConsoleBucket output: docs/console.md)
console_rc=0; ( cd "$REPO_ROOT" && STACK_DIR="$OUT_DIR/.console-build" bash scripts/console.sh build >&2 ) || console_rc=$?
rm -rf "$OUT_DIR/.console-build"
case "$console_rc" in
  0) cp -r "$REPO_ROOT/frontend/dist" "$OUT_DIR/console"; echo "package.sh: web console in $OUT_DIR/console" >&2 ;;
  3) echo "package.sh: Node.js missing, web console not included" >&2 ;;
  *) echo "package.sh: web console build failed" >&2; exit 1 ;;
esac
echo "package.sh: $TEMPLATE and $OUT_DIR/deployment.zip ready" >&2
