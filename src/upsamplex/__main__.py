"""Command line: ``python -m upsamplex {demo,train-demo} ...``."""

import sys

USAGE = """usage: python -m upsamplex COMMAND [options]

commands:
  demo         resize a synthetic test card in every mode, write a PNG grid, print timings
               (python -m upsamplex demo [--out PATH] [--quick])
  train-demo   a small training loop with upsamplex layers (python -m upsamplex train-demo -h)
"""


def main(argv=None):
    """Dispatch to a sub-command; returns the process exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, end="")
        return 0
    command, rest = argv[0], argv[1:]
    if command == "demo":
        from ._demo import main as demo_main

        return demo_main(rest)
    if command == "train-demo":
        try:
            from . import _train_demo
        except ImportError as exc:
            if exc.name != f"{__package__}._train_demo":
                raise  # the module exists but something it imports is missing
            print("train-demo is not available in this build of upsamplex "
                  "(upsamplex._train_demo is missing).", file=sys.stderr)
            return 1
        return _train_demo.main(rest)
    print(f"unknown command {command!r}\n\n{USAGE}", end="", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
