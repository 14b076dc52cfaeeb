"""``python -m bench``: every benchmark (``bench/*_bench.py``) once, with small "quick" sizes.

Each module's ``main(argv)`` is called in file-name order. A module says how it runs quickly
with a ``QUICK_ARGV`` list; without one it gets ``["--quick"]``. Extra arguments after
``python -m bench`` replace the quick ones for every module (``python -m bench --help`` shows this
text; ``python -m bench.<name> --help`` shows a module's own options). Exit status: the first
non-zero status of a module, or 1 if one raised.
"""

from __future__ import annotations

import importlib
import sys
import time
import traceback
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_QUICK_ARGV = ["--quick"]
# Modules written before the --quick convention, and how to run them small.
KNOWN_QUICK_ARGV = {"ledger_bench": ["--transactions", "20000", "--accounts", "2000", "--repeat", "1",
                                     "--writers", "1,4", "--seconds", "2"]}


def bench_modules() -> list[str]:
    """Module names of every benchmark, in file-name order."""
    return [path.stem for path in sorted(BENCH_DIR.glob("*_bench.py"))]


def quick_argv(name: str, module: object) -> list[str]:
    argv = getattr(module, "QUICK_ARGV", None)
    if argv is None:
        argv = KNOWN_QUICK_ARGV.get(name, DEFAULT_QUICK_ARGV)
    return list(argv)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__)
        print("benchmarks: " + ", ".join(bench_modules()))
        return 0
    status = 0
    for name in bench_modules():
        module = importlib.import_module(f"bench.{name}")
        args = argv or quick_argv(name, module)
        print(f"\n=== bench.{name} {' '.join(args)}", flush=True)
        started = time.perf_counter()
        try:
            code = module.main(args) or 0
        except SystemExit as exc:  # argparse errors
            code = exc.code if isinstance(exc.code, int) else 1
        except Exception:  # noqa: BLE001 - report and go on with the other benchmarks
            traceback.print_exc()
            code = 1
        print(f"=== bench.{name}: exit {code} after {time.perf_counter() - started:.0f} s", flush=True)
        status = status or code
    return status


if __name__ == "__main__":
    sys.exit(main())
