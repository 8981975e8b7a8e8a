import sys

from magpie_dagster.cli import main

sys.exit(main())
