"""`spanguard` command line: `main` dispatches to one module per subcommand in this package."""

from __future__ import annotations

from spanguard.cli.main import COMMANDS, main

__all__ = ["COMMANDS", "main"]
