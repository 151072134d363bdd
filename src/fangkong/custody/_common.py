"""What the custody modules share: bounds."""

from __future__ import annotations

#: The largest spreadsheet an import takes (bytes).
MAX_IMPORT_BYTES = 16 << 20
