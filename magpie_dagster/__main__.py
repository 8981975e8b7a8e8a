import sys

from magpie_dagster.defs.cli import main

sys.exit(main())
