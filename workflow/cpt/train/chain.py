"""Forwarder: chain jobs queued before the move to cpt.chain run `python -m cpt.train.chain job`.

Kept until the next major version; new jobs are submitted as `python -m cpt.chain job`.
"""

import sys

from cpt.chain.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
