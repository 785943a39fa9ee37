"""Every table of every package, for what must see the whole schema at once: Alembic's
autogenerate, schema checks and the tests' clean-up. Only the top layers may know all packages."""

from __future__ import annotations

from dunlin.db import Base


def all_models() -> type[Base]:
    """Import every package's models so Base.metadata knows all tables."""
    import dunlin.models  # noqa: F401
    import dunlin.users  # noqa: F401
    import reminders.models  # noqa: F401
    import sync.models  # noqa: F401

    return Base
