"""Frozen entry of the headless command (`thumbnailer`); freeze_support() first for spawned resizers."""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from core.cli import main

    sys.exit(main())
