"""Public service addresses (no imports: the QGIS-side modules read them too)."""

CDSE_BASE_URL = "https://sh.dataspace.copernicus.eu"
CDSE_TOKEN_URL = ("https://identity.dataspace.copernicus.eu/auth/realms/CDSE/protocol/"
                  "openid-connect/token")
PLANETARY_COMPUTER_URL = "https://planetarycomputer.microsoft.com/api/stac/v1"
EARTH_SEARCH_URL = "https://earth-search.aws.element84.com/v1"
MAXAR_OPEN_DATA_CATALOG = "https://maxar-opendata.s3.amazonaws.com/events/catalog.json"
