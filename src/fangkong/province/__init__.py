"""Province-wide work over many counties: planning batches on Dask (:mod:`.batch`), and the
console's view of them (:mod:`.pages`, :data:`NAV`)."""

from __future__ import annotations

from fangkong.planning.permissions import READ

# (permission, translation key, path) of the console pages, for the main navigation.
NAV: list[tuple[str | None, str, str]] = [
    (READ, "nav.province_batches", "/province/batches"),
]

__all__ = ["NAV"]
