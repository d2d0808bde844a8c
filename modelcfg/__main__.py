import sys

from modelcfg.cli import main

sys.exit(main())
