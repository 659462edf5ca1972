"""The ``hanoi`` command line: a thin shell over the wings' use cases and the node platform."""
