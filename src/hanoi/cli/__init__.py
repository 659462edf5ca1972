"""The ``hanoi`` command line: a thin shell over ``hanoi.services``."""
