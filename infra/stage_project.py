"""The Chalice project as `chalice package` should see it, staged in a directory of its own.

`chalice package` installs every requirement for the Lambda platform. For a requirement that has no
wheel with a tag it accepts (manylinux2014 at the newest), it downloads the source distribution
with `pip download --no-binary=:all:` and tries to build it — for DuckDB that means its build
requirements from source as well, minutes to tens of minutes of CPU that end in "Could not install
dependencies" anyway. `infra/package.sh` adds DuckDB from its own wheel, so the staged project's
requirements.txt leaves it out and Chalice never starts that build.

    python -m infra.stage_project SRC_PROJECT DEST_DIR
"""
from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

# requirements that infra/package.sh adds to deployment.zip itself
ADDED_BY_PACKAGE_SH = ("duckdb",)
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def packaged_requirements(text: str, leave_out=ADDED_BY_PACKAGE_SH) -> str:
    """requirements.txt without the lines of the requirements named in leave_out."""
    dropped = {_canonical(n) for n in leave_out}
    kept = []
    for line in text.splitlines():
        m = _NAME.match(line)
        if m and _canonical(m.group(1)) in dropped:
            continue
        kept.append(line)
    return "\n".join(kept) + "\n"


def stage(src: Path, dest: Path) -> Path:
    """Copy what Chalice packages (app.py, chalicelib/, vendor/, .chalice/ settings) from src to dest.

    dest/.chalice/deployments points at src's, so Chalice's cache of built dependencies survives
    from one packaging to the next.
    """
    src, dest = Path(src).resolve(), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src / "app.py", dest / "app.py")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("chalicelib", "vendor"):
        if (src / folder).is_dir():
            shutil.copytree(src / folder, dest / folder, ignore=ignore, dirs_exist_ok=True)
    (dest / ".chalice").mkdir(exist_ok=True)
    for settings in (src / ".chalice").glob("*.json"):
        shutil.copy2(settings, dest / ".chalice" / settings.name)
    cache = src / ".chalice" / "deployments"
    cache.mkdir(parents=True, exist_ok=True)
    link = dest / ".chalice" / "deployments"
    if not link.exists():
        link.symlink_to(cache, target_is_directory=True)
    requirements = src / "requirements.txt"
    text = requirements.read_text() if requirements.is_file() else ""
    (dest / "requirements.txt").write_text(packaged_requirements(text))
    return dest


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    stage(Path(argv[0]), Path(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
