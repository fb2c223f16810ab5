import pytest

from meshrender.kube.quantity import QuantityError, canonical, compare


@pytest.mark.parametrize(
    ("given", "want"),
    [
        ("0.1", "100m"), (0.1, "100m"), ("2000m", "2"), ("1024Mi", "1Gi"), ("1025Mi", "1025Mi"),
        (2, "2"), ("0.016", "16m"), ("0.916", "916m"), ("1.5Gi", "1536Mi"), ("1000", "1k"),
        ("1500", "1500"), ("129e6", "129e6"), ("0.5Ki", "512"), ("0", "0"), ("100m", "100m"),
        ("128974848", "128974848"), ("1.5", "1500m"), ("3000m", "3"), ("4000m", "4"),
    ],
)
def test_canonical_matches_kubernetes(given, want):
    assert canonical(given) == want


@pytest.mark.parametrize("bad", ["abc", "1Q", "", "1.2.3", None, True, "-", "1 Gi"])
def test_not_a_quantity(bad):
    with pytest.raises(QuantityError):
        canonical(bad)


def test_compare_across_units():
    assert compare("1Gi", "1024Mi") == 0
    assert compare("100m", "0.2") == -1
    assert compare("2", "1500m") == 1
