"""steps/common/sigs_yaml_v1_6.py: Go's float32 formatting and key folding, the one copy the step and controller-check
share. Expected values are what Go 1.26's strconv.FormatFloat(v, 'g', -1, 32) and encoding/json's folding give."""

from __future__ import annotations

import math

import pytest

from steps.common.sigs_yaml_v1_6 import fold_key, format_float32


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1.10, "1.1"),
        (1e6, "1e+06"),
        (123456.0, "123456"),
        (3.14159265358979, "3.1415927"),
        (1e-05, "1e-05"),
        (0.0001, "0.0001"),
        (16777217.0, "1.6777216e+07"),
        (1e39, "+Inf"),
        (-1e39, "-Inf"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
        (math.nan, "NaN"),
        (-0.0, "-0"),
        (0.0, "0"),
        (1e-46, "0"),
        (-1e-46, "-0"),
    ],
)
def test_format_float32(value: float, expected: str) -> None:
    assert format_float32(value) == expected


def test_fold_key() -> None:
    assert fold_key("MountPath") == fold_key("mountpath") == "MOUNTPATH"
    assert fold_key("vi\u017fibility") == fold_key("visibility")
    assert fold_key("\u212aind") == fold_key("kind")
    assert fold_key("\u0130d") == fold_key("\u0131d") == fold_key("id")  # Python's "\u0130".lower() is two characters
    assert fold_key("N\u00e4me") == fold_key("n\u00c4ME") != fold_key("name")
    assert fold_key("stra\u00dfe") == "STRA\u00dfE"  # no one-rune upper case: Go keeps it
