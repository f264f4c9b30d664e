"""hera_workflows/upstream/argo_v3_6.py: Argo's tag scanning and duration grammar, the one copy the linter, podrun and
the runner share. Expected values follow fasttemplate (first `}}` ends a tag), strings.TrimSpace,
strconv.Atoi and Go's time.ParseDuration."""

from __future__ import annotations

import pytest

from hera_workflows.upstream import argo_v3_6 as argo


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{inputs.parameters.a}}", ["inputs.parameters.a"]),
        ("x-{{ workflow.name }}-{{pod.name}}", ["workflow.name", "pod.name"]),
        ("{{=sprig.trim(x)}}", ["=sprig.trim(x)"]),
        ("{{a\n}}", ["a"]),  # a tag may span lines
        ("{{a{{b}}", ["a{{b"]),  # the first `}}` after `{{` ends it
        ("{ {a}} {{}}", [""]),
        ("no tags", []),
    ],
)
def test_tags_in_text(text: str, expected: list[str]) -> None:
    assert list(argo.tags_in_text(text)) == expected


def test_tags_in_nested_values_and_substitution() -> None:
    value = {"args": ["--x={{inputs.parameters.x}}"], "env": [{"name": "A", "value": "{{ workflow.name }}"}]}
    assert list(argo.tags_in(value)) == [("args[0]", "inputs.parameters.x"), ("env[0].value", "workflow.name")]
    names = {"a": "1", "b": "2"}
    assert argo.substitute("{{a}}-{{ b }}", names.__getitem__) == "1-2"
    assert argo.substitute("{{c}}", argo.spelled) == "{{c}}"
    assert argo.has_tag("x{{y}}") and not argo.has_tag("x{y}")


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (15, 15.0),
        ("15", 15.0),
        ("-5", -5.0),
        ("+5", 5.0),
        ("90s", 90.0),
        ("1m30s", 90.0),
        ("1.5h", 5400.0),
        ("500ms", 0.5),
        ("2us", 2e-6),
        ("2\u00b5s", 2e-6),
        ("2\u03bcs", 2e-6),
        (".5s", 0.5),
        ("1.s", 1.0),
        ("0", 0.0),
        ("-1m", -60.0),
    ],
)
def test_durations(value: object, seconds: float) -> None:
    assert argo.parse_duration(value) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["soon", "", "1d", "1.5", ".s", "s", " 10s", "10s ", "1m30", "-", "1e3s"])
def test_not_durations(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        argo.parse_duration(text)
