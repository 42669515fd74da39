"""Hypothesis profiles for the property suite (issue 3).

    pytest                                  # ci: the default, bounded and reproducible
    HYPOTHESIS_PROFILE=dev pytest           # or: pytest --hypothesis-profile=dev
    pytest --hypothesis-profile=thorough    # long, for a nightly run

`ci` is derandomized (the same examples on every machine and run) and keeps the property
tests within about three minutes on 2 cores; no deadline anywhere, since one example is a
whole simulated run whose cost varies with its size.
"""
import os

from hypothesis import HealthCheck, settings

_COMMON = dict(deadline=None, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                      HealthCheck.large_base_example,
                                      HealthCheck.function_scoped_fixture])
settings.register_profile("ci", max_examples=50, derandomize=True, database=None, **_COMMON)
settings.register_profile("dev", max_examples=60, **_COMMON)
settings.register_profile("thorough", max_examples=1500, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
