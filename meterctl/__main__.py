"""``meterctl``: the operations command line (DESIGN.md section 8).

Configured by the same environment variables as the services. Each module of this
package that defines ``add_commands(subparsers)`` contributes its commands; a command
sets ``func`` (taking the parsed arguments and ``CommonSettings``, returning an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

import meterctl
from shared.settings import CommonSettings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="meterctl", description=__doc__.splitlines()[0])
    areas = parser.add_subparsers(dest="area", required=True)
    for module_info in sorted(pkgutil.iter_modules(meterctl.__path__), key=lambda m: m.name):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"meterctl.{module_info.name}")
        add_commands = getattr(module, "add_commands", None)
        if add_commands is not None:
            add_commands(areas)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args, CommonSettings.from_env()))


if __name__ == "__main__":
    sys.exit(main())
