"""Frozen entry of the window (`batch-thumbnailer`).

freeze_support() runs before the GUI modules are imported, so a spawned resizer process (which starts
this same executable) goes straight to its work without loading Qt's widget libraries.
"""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from gui.app import main

    sys.exit(main())
