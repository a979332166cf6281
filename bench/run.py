"""Run every benchmark in this folder, one after the other (``make bench``).

Each ``bench_*.py`` prints its own table with a baseline measured in the same run. Pass
``--postgres URL`` to include the PostgreSQL figures where a benchmark supports them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: Benchmarks that accept ``--postgres URL``.
WITH_POSTGRES = {"bench_import.py", "bench_graphql.py"}


def main(argv: list[str]) -> int:
    postgres = argv[argv.index("--postgres") + 1] if "--postgres" in argv else None
    failed = []
    for script in sorted(HERE.glob("bench_*.py")):
        command = [sys.executable, str(script)]
        if postgres and script.name in WITH_POSTGRES:
            command += ["--postgres", postgres]
        print(f"\n=== {script.name}", flush=True)
        if subprocess.run(command).returncode != 0:
            failed.append(script.name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
