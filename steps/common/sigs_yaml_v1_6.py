"""Go behaviour that sigs.k8s.io/yaml v1.6.0 (YAML -> JSON -> encoding/json, Go 1.22+) shows when decoding into a
typed struct: how a float lands in a string field, and how an object key finds its struct field.

Both the generate-workload step (reading `workload.yaml` as `occ`/the API do) and `hera_workflows`' controller check
(reading `workload-cr` as the Workload controller does) need exactly this, so it lives once, here, stdlib only.
"""

from __future__ import annotations

import math
import struct


def _go_fold_rune(ch: str) -> str:
    """unicode.ToUpper(unicode.ToLower(r)) with Go's simple (one-rune) case mappings. Python's str.lower/upper use
    the full mappings; where those give several characters the simple mapping is taken instead: U+0130 lowers to
    "i", and letters without a one-rune upper case (such as "ß") stay themselves."""
    if ch.isascii():
        return ch.upper()
    lower = "i" if ch == "\u0130" else ch.lower()
    if len(lower) != 1:
        lower = ch
    upper = lower.upper()
    return upper if len(upper) == 1 else lower


def fold_key(key: str) -> str:
    """The form under which encoding/json (`foldName`, Go 1.21+) matches an object key to a struct field
    case-insensitively: two keys match when their folded forms are equal. Besides ASCII case, four non-ASCII letters
    fold onto ASCII ones: U+017F (long s) -> S, U+212A (Kelvin) -> K, U+0130 and U+0131 (dotted/dotless i) -> I."""
    return "".join(_go_fold_rune(ch) for ch in key)


def _to_float32(value: float) -> float:
    """Go's float32(value): round to the nearest float32; beyond its range, an infinity."""
    try:
        return float(struct.unpack("f", struct.pack("f", value))[0])
    except OverflowError:
        return math.copysign(math.inf, value)


def format_float32(value: float) -> str:
    """strconv.FormatFloat(value, 'g', -1, 32): what sigs.k8s.io/yaml writes for a float landing in a string field
    (`convertToJSONableObject`, the value branch: unlike float map keys, values keep Go's "+Inf"/"-Inf"/"NaN")."""
    if math.isnan(value):
        return "NaN"
    f32 = _to_float32(value)
    if math.isinf(f32):
        return "+Inf" if f32 > 0 else "-Inf"
    if f32 == 0:
        return "-0" if math.copysign(1.0, f32) < 0 else "0"
    sci = f"{f32:.8e}"
    for precision in range(9):  # shortest digits that read back as the same float32
        candidate = f"{f32:.{precision}e}"
        if _to_float32(float(candidate)) == f32:
            sci = candidate
            break
    mantissa, exponent_text = sci.split("e")
    negative = mantissa.startswith("-")
    digits = mantissa.lstrip("-").replace(".", "").rstrip("0") or "0"
    exponent = int(exponent_text)
    sign = "-" if negative else ""
    if exponent < -4 or exponent >= 6:  # shortest 'g' picks %e below -4 or from exponent 6 on
        body = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{body}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    point = exponent + 1  # digits before the decimal point
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{sign}{digits}{'0' * (point - len(digits))}"
    return f"{sign}{digits[:point]}.{digits[point:]}"
