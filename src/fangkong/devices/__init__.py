"""Sensing and alarm devices as assets (一机一档): the register, status reports and each
device's uptime record, and the figures per area and zone type against the targets.

A device is an asset: no image, capture, recognition result or person record is ever stored.

What the application wires in: ``fangkong.devices.api.router`` (under ``/api/v1``),
``fangkong.devices.pages.router`` and :data:`NAV`; ``fangkong.devices.permissions``
registers its permissions with core.
"""

from __future__ import annotations

from fangkong.devices.permissions import READ

# (permission, translation key, path) of the console pages, for the main navigation.
NAV: list[tuple[str | None, str, str]] = [
    (READ, "nav.devices", "/devices"),
    (READ, "nav.device_figures", "/devices/figures"),
]

__all__ = ["NAV"]
