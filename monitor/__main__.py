"""`python -m monitor` is the `banwatch` command."""

from monitor.cli import cli

cli(prog_name="banwatch")
