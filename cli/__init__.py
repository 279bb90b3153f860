"""The command line, avaffect's top floor: the ``avaffect`` command (main.py), one module per
command, the logging set-up (logs.py) and the flag groups the run-time commands share
(flags.py). Nothing below imports from here; each command turns its flags into the options
classes of the floors below and calls their library functions.

``python -m avaffect.cli`` runs the command too (``torchrun ... -m avaffect.cli train``).
"""

from avaffect.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
