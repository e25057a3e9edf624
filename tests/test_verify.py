"""`expect` lines: exact, rounded at the written precision, with a tolerance, disputed."""

from __future__ import annotations

import pytest

import archc

# conv3-16 on 3×32×32: 448 params, 442,368 MACs; output 16×32×32.
BASE = "network t input 3x32x32\nc: conv3-16\n"


def outcomes(*lines: str):
    return archc.check(archc.analyze(BASE + "\n".join(lines) + "\n"))


def holds(line: str) -> bool:
    (outcome,) = outcomes(line)
    return outcome.holds


@pytest.mark.parametrize("line, expected", [
    ("expect params 448", True),
    ("expect params = 448", True),
    ("expect params 449", False),
    ("expect weights 432", True),
    ("expect biases 16", True),
    ("expect macs 442,368", True),
    ("expect macs ≈ 0.44M", True),     # 0.442 rounds to 0.44
    ("expect macs ≈ 0.45M", False),
    ("expect macs ~ 442K", True),
    ("expect macs ≈ 432Ki", True),     # 442,368 / 1024 = 432
    ("expect macs ≈ 450K ±2%", True),  # 1.7% off
    ("expect macs ≈ 450K ±1%", False),
    ("expect params at c = 448", True),
    ("expect shape at c = 16x32x32", True),
    ("expect shape = 16×32×32", True),
    ("expect shape at c = 16x16x16", False),
    ("expect rf at c = 3/1/1", True),
    ("expect rf at c = 3x3/1x1/1x1", True),
    ("expect rf at c = 5/1/2", False),
    ("expect weight-layers = 1", True),
    ("expect activations = 16,384", True),
])
def test_expect_semantics(line, expected):
    assert holds(line) is expected


def test_disputed_lines_are_reported_not_failed():
    (outcome,) = outcomes("expect params ≈ 500 disputed")
    assert not outcome.holds and not outcome.failed
    assert "archc computes 448" in outcome.message


def test_rounded_figures_need_approx():
    with pytest.raises(archc.SemanticError, match="is rounded"):
        outcomes("expect params = 1.5K")


def test_approx_is_for_counts():
    with pytest.raises(archc.SemanticError, match="checked exactly"):
        outcomes("expect shape ≈ 16x32x32")


def test_unknown_metric_has_a_suggestion():
    with pytest.raises(archc.SemanticError, match="did you mean `params`"):
        outcomes("expect parms 448")


def test_inference_leaves_out_side_outputs():
    # conv3-4 on 3 maps: 112 params; the side output's FC-10 on 4 maps: 50; the main FC-5: 25.
    net = archc.analyze("network t input 3x8x8\nconv3-4\naux: side { gap; FC-10 }\n"
                        "gap; FC-5\nexpect inference params 137\nexpect params 187\n")
    assert all(o.holds for o in archc.check(net))
