"""Run Alembic migrations programmatically (``fangkong db upgrade``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, inspect

from fangkong.core import partitions

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
# Objects in the database that the models do not describe on purpose: PostGIS's own tables and
# the PostgreSQL-only pattern-ops indexes that the migrations add for path-prefix scoping.
POSTGIS_TABLES = frozenset({"spatial_ref_sys", "geometry_columns", "geography_columns"})
PATTERN_INDEX_SUFFIX = "_pattern"


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Autogenerate filter: leave out what the models do not describe on purpose."""
    if type_ == "table" and name in POSTGIS_TABLES:
        return False
    # PostgreSQL's partitions of the large tables (migration 0023): the models describe
    # their parents only.
    if type_ == "table" and reflected and compare_to is None and partitions.is_partition(name):
        return False
    return not (
        type_ == "index"
        and reflected
        and compare_to is None
        and (name or "").endswith(PATTERN_INDEX_SUFFIX)
    )


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "head", *, secret_key: str | None = None) -> None:
    """Bring the database at ``engine`` to ``revision``, reusing the engine's connection.

    ``secret_key``: the installation's, for migrations that rewrite keyed values (revision
    0007 rehashes the idempotency digests with it; without it they are deleted).
    """
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        if secret_key is not None:
            config.attributes["secret_key"] = secret_key
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str) -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    if not inspect(engine).has_table("alembic_version"):
        return None
    with engine.connect() as connection:
        row = connection.exec_driver_sql("SELECT version_num FROM alembic_version").first()
    return None if row is None else str(row[0])
