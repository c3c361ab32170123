import sys

from modspec.cli import main

sys.exit(main())
