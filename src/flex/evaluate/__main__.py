"""`python -m flex.evaluate --job JSON --input FILE --output FILE`: same as `flex evaluate`."""

import sys

from flex.cli import main

sys.exit(main(["evaluate", *sys.argv[1:]]))
