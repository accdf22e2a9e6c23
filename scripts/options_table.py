"""The README's table of the runtime's flags, generated from the options record.

    python scripts/options_table.py            # print it
    python scripts/options_table.py --write    # replace the table between its markers in README.md

tests/lean/test_readme.py checks the README holds exactly what this prints.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BEGIN, END = "<!-- options table: scripts/options_table.py -->", "<!-- end of options table -->"


def table_text() -> str:
    from runtime.__main__ import build_parser
    from runtime.options import options_table

    return "\n".join(options_table(build_parser()))


def replaced(readme: str, table: str) -> str:
    if BEGIN not in readme or END not in readme:
        raise SystemExit(f"error: README.md lacks the markers {BEGIN} ... {END}")
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{table}\n{END}{tail}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--write", action="store_true", help="update README.md in place")
    a = p.parse_args()
    table = table_text()
    if a.write:
        path = ROOT / "README.md"
        path.write_text(replaced(path.read_text(), table))
    else:
        print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
