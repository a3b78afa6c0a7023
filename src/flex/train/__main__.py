"""`python -m flex.train --job JSON --results DIR --output-dir DIR`: same as `flex train`."""

import sys

from flex.cli import main

sys.exit(main(["train", *sys.argv[1:]]))
