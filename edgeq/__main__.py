import sys

from edgeq.cli.main import main

sys.exit(main())
