"""The search key of a standard address: its texts folded (accents and case away, no
spaces), its full pinyin and its pinyin initials, so that "zhongshan", "zs", "Zhōngshān"
and "中山" all find 中山路. Stored per address (``StandardAddress.search_key``) and matched
as a substring: one indexed-free scan of a county's tens of thousands of rows is fast."""

from __future__ import annotations

import unicodedata

from pypinyin import Style, lazy_pinyin

#: Between the parts of a key; never part of a folded query.
SEPARATOR = "|"


def fold(text: str) -> str:
    """``text`` compatibility-decomposed, without combining marks, case-folded, without
    spaces or the key's separator: "Zhōngshān Road" -> "zhongshanroad"."""
    decomposed = unicodedata.normalize("NFKD", text)
    kept = "".join(c for c in decomposed if not unicodedata.combining(c))
    return "".join(c for c in kept.casefold() if not c.isspace() and c != SEPARATOR)


def search_key(text_zh: str, text_en: str) -> str:
    """The key of an address with these texts: folded Chinese, folded English, full pinyin
    and pinyin initials of the Chinese text, joined by :data:`SEPARATOR`."""
    full = fold("".join(lazy_pinyin(text_zh)))
    initials = fold("".join(lazy_pinyin(text_zh, style=Style.FIRST_LETTER)))
    return SEPARATOR.join((fold(text_zh), fold(text_en), full, initials))
