"""Hypothesis profiles: ``default`` (make test: few cases, fast) and ``full`` (HYPOTHESIS_PROFILE=full,
set by make test-all: at least 200 cases per property). Counts are listed in docs/testing.md."""

import os

from hypothesis import HealthCheck, settings

_common = dict(deadline=None, derandomize=False, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                      HealthCheck.data_too_large])
settings.register_profile("default", max_examples=30, **_common)
settings.register_profile("full", max_examples=200, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
