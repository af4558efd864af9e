"""``python -m passgate``: the same as the ``passgate`` command."""

from passgate.cli.main import main

main(prog_name="passgate")
