"""The mosmu: master config: every number has a bound, named in a one-line refusal."""

import pytest

import mosmu_config
from mosmu_errors import ConfigError

BASE = {"fuel_url": "http://10.20.0.2:8000", "password": "x", "master_ip": "10.20.0.2"}


def _load(**over):
    return mosmu_config.load(dict(BASE, **over), astute_path="/nonexistent/astute.yaml")


@pytest.mark.parametrize("key, good, bad", [
    ("timeout", 10 ** 6, [10 ** 6 + 1, 1e300, 10 ** 400]),
    ("apply_timeout", 10 ** 6, [10 ** 6 + 1, 1e300, 10 ** 400]),
    ("keep_snapshots", 100, [101, 10 ** 12]),
])
def test_every_number_of_the_config_has_an_upper_bound(key, good, bad):
    """mosmu:timeout: 1e300 was accepted; socket timeouts and waits then raise OverflowError
    mid-run (a traceback, not a message)."""
    assert _load(**{key: good})[key] == good
    for value in bad:
        with pytest.raises(ConfigError) as err:
            _load(**{key: value})
        text = str(err.value)
        assert text.startswith(f"mosmu:{key} ") and f"{good}" in text and "\n" not in text
