"""The people who use the dashboard: users and roles, password hashes, sessions, API tokens
and the audit log, in one SQLite database (``database``), shared by ``factory users`` and
``factory serve``."""
