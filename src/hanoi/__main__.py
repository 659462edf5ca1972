"""``python -m hanoi``: the same as the ``hanoi`` command."""

from hanoi.cli.main import main

main()
