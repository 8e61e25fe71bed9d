#!/usr/bin/env bash
# Benchmarks (README "Performance"). Each prints its figures as ratios to a baseline measured in the same run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
.venv/bin/python bench/bench_reader.py "$@"
.venv/bin/python bench/bench_cdc.py
.venv/bin/python bench/bench_matching.py
