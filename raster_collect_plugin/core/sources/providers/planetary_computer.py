"""Microsoft Planetary Computer: a STAC API whose asset hrefs need SAS tokens.

Tokens expire (45 minutes to a few hours). ``renew`` strips the old token, drops the cached
token for that storage container and signs again; the loader calls it when a read is refused.
"""

from __future__ import annotations

from typing import List, Optional
from urllib.parse import urlsplit, urlunsplit

import planetary_computer
import pystac
from planetary_computer import sas

from ..endpoints import PLANETARY_COMPUTER_URL
from .stac_api import StacApiProvider


def _strip_query(href: str) -> str:
    parts = urlsplit(href)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


class PlanetaryComputerProvider(StacApiProvider):
    """Planetary Computer (``sentinel-2-l2a``, ``landsat-c2-l2``, ``sentinel-1-rtc``, ...)."""

    kind = "planetary-computer"
    default_name = "Planetary Computer"

    def __init__(self, name: Optional[str] = None, url: str = PLANETARY_COMPUTER_URL,
                 **kwargs):
        super().__init__(name or self.default_name, url, **kwargs)

    def sign(self, item: pystac.Item) -> pystac.Item:
        return self._bounded_sign(item)

    def _bounded_sign(self, item: pystac.Item) -> pystac.Item:
        """planetary_computer requests SAS tokens without a timeout: bound the call."""
        from ...compute.interrupts import call_interruptibly
        from .base import ProviderError

        try:
            return call_interruptibly(planetary_computer.sign, item, timeout=self.timeout,
                                      what="the SAS token service")
        except TimeoutError as error:
            raise ProviderError(f"{self.name}: {error}; try again later") from None

    def renew(self, items: List[pystac.Item]) -> List[pystac.Item]:
        sas.TOKEN_CACHE.clear()  # a refused token may still look valid to the cache
        renewed = []
        for item in items:
            fresh = item.clone()
            for asset in fresh.assets.values():
                asset.href = _strip_query(asset.href)
            renewed.append(self._bounded_sign(fresh))
        return renewed
