"""Subcommands of `andsend-emulators` for the andsend emulator."""

from __future__ import annotations

import argparse


def add_commands(sub: argparse._SubParsersAction) -> None:  # filled in by the andsend emulator
    pass
