"""Signed hrefs for the viewer: the engine signs Planetary Computer asset hrefs (SAS tokens)
and reports when the tokens expire, so layers in QGIS can be re-signed before they go stale.

Runs as the small ``sign`` job; QGIS never imports planetary-computer itself.
"""

from __future__ import annotations

from typing import Dict, Iterable, Optional

from ..imagery.renderings import strip_query, token_expiry

SIGNERS = ("planetary-computer",)


def sign_hrefs(hrefs: Iterable[str], signing: Optional[str]) -> Dict:
    """``{"hrefs": {unsigned: signed}, "expires": ISO of the earliest token or None}``.

    Any old token is stripped first (``planetary_computer.sign`` leaves signed hrefs alone)."""
    unsigned = list(dict.fromkeys(strip_query(h) if signing else h for h in hrefs))
    if not signing:
        return {"hrefs": {h: h for h in unsigned}, "expires": None}
    if signing not in SIGNERS:
        raise ValueError(f"unknown signing {signing!r}; use one of {SIGNERS}")
    import planetary_computer

    signed = {h: planetary_computer.sign_url(h) for h in unsigned}
    expiries = sorted(e for e in (token_expiry(s) for s in signed.values()) if e)
    return {"hrefs": signed, "expires": expiries[0] if expiries else None}
