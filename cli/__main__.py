"""``python -m avaffect.cli``: the ``avaffect`` command (torchrun launches training this way)."""

import sys

from avaffect.cli.main import main

sys.exit(main())
