import sys

from beam_prep.cli import main

sys.exit(main())
