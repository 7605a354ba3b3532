"""`make bench`: run every benchmarks/bench_*.py and print their side-by-side ratios.

python -m benchmarks            # all
python -m benchmarks http_stack # those whose name contains the word
"""

import importlib
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path


def main(argv: list[str]) -> int:
    names = sorted(path.stem for path in Path(__file__).parent.glob("bench_*.py"))
    selected = [name for name in names if not argv or any(word in name for word in argv)]
    machine = f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}"
    print(f"# Maillage benchmarks — {datetime.now(tz=UTC).date().isoformat()} — {machine}")
    for name in selected:
        module = importlib.import_module(f"benchmarks.{name}")
        print(f"\n## {name}: {module.__doc__.strip().splitlines()[0]}")
        module.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
