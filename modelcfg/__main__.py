import sys

from modelcfg.cli.app import main

sys.exit(main())
