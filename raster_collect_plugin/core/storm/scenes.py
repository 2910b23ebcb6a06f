"""Whether a storm's search found scenes to assess it from, said before any pixel is read."""

from __future__ import annotations

import pandas as pd


def storm_no_scene_fix(composite_request, radar_only: bool) -> str:
    """What to change when the windows around the event hold no scene, in the command line's
    words and the job spec's (the cloud limit only when an optical collection was searched)."""
    first, last = composite_request.start, composite_request.end
    cloud = "" if radar_only else ", --max-cloud (max_cloud_cover)"
    return ("check --event-date, --before-days and --after-days (a job spec's event_date, "
            f"before_days and after_days){cloud} and that the forests lie under the scenes: "
            f"raster-collect search --start {first} --end {last} lists the scenes there are")


def check_scenes_around_event(request, composite_request, report) -> None:
    """A storm is assessed from scenes before *and* after it: when the search found none at
    all ("nothing to compute", with the windows to check), or none in the after (or before)
    window, say so before any pixel is read (bad input), not after minutes of work with every
    stand 'unknown'. Not with radar from Sentinel Hub (it may be all there is after the
    event). ``request``: the StormRequest; ``composite_request``: its ``storm_composites``."""
    from ..composites.pipeline import is_radar, refuse_nothing_found
    from ..composites.requests import RequestError, _naive_utc, composite_windows

    found = report.all_items
    if request.sentinel_hub_radar is not None:
        return
    radar_only = all(is_radar(composite_request, *key) for key in report.items)
    if not found:
        refuse_nothing_found(composite_request, report,
                             storm_no_scene_fix(composite_request, radar_only))
        return  # found scenes of a collection giving nothing asked: run_composites says so
    windows = composite_windows(composite_request)
    for label, begin, end in (windows[-1], ("before", windows[0][1], windows[-2][2])):
        if not any(begin <= _naive_utc(item.datetime) < end for item in found):
            last = (end - pd.Timedelta(days=1)).date()
            days = f"--event-date and --{label}-days (a spec's 'event_date' and '{label}_days')"
            hint = (f"the scenes may not be published yet (rerun later), or check {days}"
                    if label == "after" else f"check {days}")
            cloud = "" if radar_only else \
                f", at most {composite_request.max_cloud_cover}% cloud"
            where = f"in any source{cloud}"
            if request.before_items or request.after_items:  # nothing was searched
                where, hint = "among the items given", f"give --{label}-item too (a spec's " \
                    f"'{label}_items')"
            raise RequestError(f"no scene {label} the event ({begin.date()} to {last}) "
                               f"{where}: {hint}")
