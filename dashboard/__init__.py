"""The web app of ``factory serve``: the app and its report cache (``app``), sign-in,
sessions, roles and TLS (``auth``), operators' routes (``ops``: alerts, stops and their
reasons), a machine's page (``views``), its settings (``config``) and the static pages,
script and OpenAPI document (``web/``)."""
