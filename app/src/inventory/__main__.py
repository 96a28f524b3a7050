"""``python -m inventory``: serve the app (see :mod:`inventory.server`)."""

from inventory.server import main

raise SystemExit(main())
