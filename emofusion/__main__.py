import sys

from emofusion.cli import main

sys.exit(main())
