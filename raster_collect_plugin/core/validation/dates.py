"""The dates of reference polygons of disturbance, read as a forester writes them: by the day,
year first, in the zone they were written in."""

from __future__ import annotations

# a time of day after a year-first date, with or without its zone (10:30, T10:30:00.5+10:00, Z)
_TIME_OF_DAY = r"(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)?)?"


def reference_dates(values):
    """A date column as datetimes: text as pandas reads it, and where pandas, having taken
    its format from the first value, reads nothing, the value's leading ISO date (a column
    mixing 2025-03-14 and 2025-03-14 00:00:00). Whole numbers are YYYYMMDD (as the
    monitoring rasters' dates), never nanoseconds since 1970, and so is text of 8 digits
    ('20250314', a number kept as text by a CSV or shapefile); text must put the year first
    (01/03/2025 is March or January), with '-', '/' or '.' between year, month and day:
    other text is no date (named by the caller). A date and time with a zone counts on the
    day it was where it was written (2025-11-20T06:00+10:00 is 20 November, not the 19th in
    UTC): references are dated by the day, and zones may differ between rows."""
    import datetime
    import warnings

    import pandas as pd

    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        whole = values.where(values.notna() & (values % 1 == 0))
        return pd.to_datetime(whole.astype("Int64").astype("string"), format="%Y%m%d",
                              errors="coerce")
    if isinstance(values.dtype, pd.DatetimeTZDtype):  # a date-time field read with its zone
        return values.dt.tz_localize(None)
    values = values.map(lambda v: v.replace(tzinfo=None)
                        if isinstance(v, datetime.datetime) and v.tzinfo is not None else v)
    text = values.map(lambda v: isinstance(v, str))
    if text.any():  # year first, any separator (2025/03/14, 2025.3.14) as ISO 2025-03-14
        parts = values[text].astype(str).str.strip().str.extract(  # or YYYYMMDD as text
            r"^(\d{4})(?:[-/.](\d{1,2})[-/.](\d{1,2})|(\d{2})(\d{2}))(.*)$")
        parts = pd.DataFrame({0: parts[0], 1: parts[1].fillna(parts[3]),
                              2: parts[2].fillna(parts[4]), 3: parts[5]})
        day = parts[0] + "-" + parts[1].str.zfill(2) + "-" + parts[2].str.zfill(2)
        timed = parts[3].fillna("").str.fullmatch(_TIME_OF_DAY)
        iso = day.where(timed, day + parts[3])  # the day as written; else pandas decides
        values = values.astype(object).where(~text, iso)  # else (day first) no date
    with warnings.catch_warnings():  # "Could not infer format": a bad first value, named
        warnings.simplefilter("ignore", UserWarning)  # by the caller; not a 2nd stderr line
        dates = pd.to_datetime(values, errors="coerce")
    retry = dates.isna() & values.notna()
    if retry.any():
        leading = values[retry].astype(str).str[:10]
        dates = dates.where(~retry, pd.to_datetime(leading, errors="coerce", format="%Y-%m-%d"))
    return dates
