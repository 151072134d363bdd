"""Alembic environment: fangkong's metadata, run on the connection the caller hands over."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import create_engine

from fangkong.core.migrate import include_object
from fangkong.models import Base

config = context.config


def _run(**options: Any) -> None:
    context.configure(
        target_metadata=Base.metadata,
        render_as_batch=True,
        include_object=include_object,
        **options,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    _run(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
elif (connection := config.attributes.get("connection")) is not None:
    _run(connection=connection)
else:
    with create_engine(config.get_main_option("sqlalchemy.url") or "").begin() as conn:
        _run(connection=conn)
