"""``python -m upsamplex COMMAND ...``: the same as the ``upsamplex`` command."""

import sys

from ._cli import USAGE, main

__all__ = ["USAGE", "main"]

if __name__ == "__main__":
    sys.exit(main())
