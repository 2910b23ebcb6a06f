"""Field names of the zones the pipeline makes (no heavy imports: QGIS reads them)."""

HEX_ID_FIELD = "hex_id"  # a hexagon's id (each cell also carries its forest's id)
