"""``python -m mapping_client``: the ``mapping-serve`` command line."""

from mapping_client.cli.main import main

raise SystemExit(main())
