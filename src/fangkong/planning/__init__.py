"""Planning (规划): coverage of demand by posts, site placement, scenarios and the control ring.

What the application wires in: ``fangkong.planning.api.router`` (under ``/api/v1``),
``fangkong.planning.pages.router`` and :data:`NAV`; ``fangkong.planning.permissions``
registers its permissions with core.
"""
