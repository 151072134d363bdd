"""fangkong: operations and planning software for a county's public-safety prevention system."""

__version__ = "0.1.0"
