"""An unexpected error is classified (None: re-raised with its traceback), never replaced by
an ImportError from the classifier itself (its store check moved to core/runs/ in the split)."""

from raster_collect_plugin.core.jobs.errors import classify


def test_an_unknown_error_is_left_to_the_caller():
    assert classify(RuntimeError("something nobody expected")) is None


class EndpointConnectionError(Exception):
    """Stands in for botocore's error of that name (the classifier checks name and module)."""


EndpointConnectionError.__module__ = "botocore.exceptions"


def test_an_unreachable_store_is_one_failure_line():
    error = EndpointConnectionError('Could not connect to "http://127.0.0.1:9/bucket"')
    kind, message = classify(error)
    assert kind == "failure"
    assert message.startswith("object storage stopped answering (Could not connect")
