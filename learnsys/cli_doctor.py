"""`learnsys doctor [--runs-dir D]`: check the run store, rebuild its run rows from the run folders.

The work is in `learnsys.store.repair`; this module only registers the verb and prints the report.
"""

from __future__ import annotations

import argparse


def add_parser(sub, add_common) -> None:
    p = sub.add_parser("doctor", help="check the run store; rebuild its run rows from the run folders (a damaged "
                                      "store is moved aside, never deleted)")
    add_common(p)


def cmd_doctor(args: argparse.Namespace) -> int:
    from .store.repair import repair

    for line in repair(args.runs_dir):
        print(line)
    return 0


COMMANDS = {"doctor": cmd_doctor}
