"""Frozen entry of the headless command (`thumbnailer`); freeze_support() first for spawned resizers."""

import multiprocessing

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from core.cli import run

    run()
