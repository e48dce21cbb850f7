import sys

from spanguard.cli import main

sys.exit(main())
