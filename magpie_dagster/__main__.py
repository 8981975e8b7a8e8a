import sys

from magpie_dagster.cli.main import main

sys.exit(main())
