"""phaselab/percentiles.py gives np.nanpercentile's numbers bit for bit (a sweep's intervals
must not move when the faster code replaced it)."""
import numpy as np
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from phaselab.percentiles import row_nanpercentile

QS = [50.0, 95.0, 99.0, 100.0]


def test_known_answers():
    m = np.array([[1.0, 2.0, 3.0, 4.0, np.nan],
                  [10.0, np.nan, np.nan, np.nan, np.nan],
                  [5.0, 1.0, np.nan, 3.0, 2.0]])
    got = row_nanpercentile(m, [0.0, 50.0, 100.0])
    assert got.tolist() == [[1.0, 10.0, 1.0], [2.5, 10.0, 2.5], [4.0, 10.0, 5.0]]


def test_an_all_nan_row_is_nan():
    got = row_nanpercentile(np.array([[np.nan, np.nan], [1.0, 3.0]]), [50.0])
    assert np.isnan(got[0, 0]) and got[0, 1] == 2.0


finite = st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False)
cells = st.one_of(finite, st.just(np.nan), st.integers(-50, 50).map(float))


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(float, hnp.array_shapes(min_dims=2, max_dims=2, max_side=40), elements=cells),
       st.lists(st.floats(0, 100), min_size=1, max_size=5))
def test_same_bits_as_numpy(m, qs):
    m[:, 0] = np.where(np.isnan(m[:, 0]), 0.0, m[:, 0])  # no all-NaN row (numpy warns)
    want = np.nanpercentile(m, qs, axis=1)
    assert np.array_equal(row_nanpercentile(m, qs), want, equal_nan=True)


def test_the_bootstrap_shape_too():
    rng = np.random.default_rng(7)
    m = rng.lognormal(5, 1, size=(1000, 300))
    m[:, 200:] = np.nan
    assert np.array_equal(row_nanpercentile(m, QS), np.nanpercentile(m, QS, axis=1))
    assert not np.array_equal(row_nanpercentile(m, [50.0]), np.nanpercentile(m, [51.0], axis=1))
