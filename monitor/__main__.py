"""`python -m banwatch.monitor` is the `banwatch` command."""

from banwatch.monitor.cli import cli

cli(prog_name="banwatch")
