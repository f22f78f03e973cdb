"""`python -m config table` prints the settings table; `python -m config docs` rewrites it in the docs.

Neither needs a database or a SECRET_KEY, so `make docs` runs anywhere.
"""

from __future__ import annotations

import sys

from config.table import markdown_table, write_documents


def main(argv: list[str]) -> int:
    """Run the sub-command named in `argv`."""
    command = argv[0] if argv else "table"
    if command == "table":
        sys.stdout.write(markdown_table())
        return 0
    if command == "docs":
        for path in write_documents():
            print(f"updated {path}")
        return 0
    print("usage: python -m config [table|docs]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
