"""The WSGI entry point for servers that import one: ``inventory.wsgi:app``.

For example ``waitress-serve --port 8080 inventory.wsgi:app``; the settings
are read from the environment (and ``app.env``) at import.
"""

from inventory import create_app

app = create_app()
