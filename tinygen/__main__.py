"""``python -m tinygen``: the same command line as the ``tinygen`` console script."""
import sys

from .cli import main

sys.exit(main())
