"""The conformance runner (SPEC C6) on code not written in Rust: the numpy port passes every
check at exact, and deliberately broken variants of it fail exactly the checks they break.

Each variant is the port's source with one edit, so that it differs from the passing port in
that one place; the checks it must fail are listed with the reason, and every other check
must still pass.
"""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import PORT_FILE
from hsnn import conformance


def port_module(edits: list[tuple[str, str]], name: str) -> types.ModuleType:
    """The numpy port's module with each ``(old, new)`` edit applied to its source once."""
    source = PORT_FILE.read_text(encoding="utf-8")
    for old, new in edits:
        assert source.count(old) == 1, f"the edit's anchor must occur once: {old!r}"
        source = source.replace(old, new)
    module = types.ModuleType(name)
    module.__file__ = str(PORT_FILE)
    sys.modules[name] = module
    # The variants are the port's own source with one edit: nothing foreign is executed.
    exec(compile(source, f"{PORT_FILE} ({name})", "exec"), module.__dict__)  # noqa: S102
    return module


def failing(results: list[conformance.CheckResult]) -> set[str]:
    return {result.check for result in results if result.status == "fail"}


UNCHANGED = port_module([], "numpy_port_unchanged")

#: Checks that never call the implementation (hsnn's own definitions): n/a for a port (C6).
NEVER_CALLS = {"n4_psmnist_has_102027_trainable_parameters"}


def expected_status(name: str) -> str:
    return "n/a" if name in NEVER_CALLS else "pass"


@pytest.mark.parametrize("name", [name for name, _, _ in conformance.checks()])
def test_numpy_port_passes_every_check_at_exact(name: str) -> None:
    result = conformance.run_check(UNCHANGED.NumpyPort(), "exact", name)
    assert result.status == expected_status(name), result.message


def test_check_runs_every_check_and_raises_with_the_failures() -> None:
    assert len(conformance.check(UNCHANGED.NumpyPort(), "exact")) == 42
    with pytest.raises(conformance.ConformanceFailure, match="q1_state_stays_in_unit_interval"):
        conformance.check(Refuses(), "exact", pattern="q1_state*")
    with pytest.raises(ValueError, match="no conformance check"):
        conformance.run_check(UNCHANGED.NumpyPort(), "exact", "q1_state")


def test_command_line_prints_the_matrix_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "hsnn.conformance",
            f"{PORT_FILE}:NumpyPort",
            "--level",
            "exact",
            "--json",
            str(out),
            "--checks",
            "q1_*",
        ],
        capture_output=True,
        check=False,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    assert "| Q1 | `q1_state_stays_in_unit_interval` | pass |" in completed.stdout
    report = json.loads(out.read_text())
    assert report["format"] == "hsnn-conformance-report" and report["format_version"] == 1
    assert report["implementation"] == "numpy-port" and report["passed"] is True
    assert [r["check"] for r in report["results"]] == [
        name for name, _, _ in conformance.checks("q1_*")
    ]


FMA = (
    (
        "    p = dt * r  # one rounded product\n    w = v + p  # one rounded sum; numpy never fuses"
        " this with the product"
    ),
    (
        "    from fractions import Fraction\n"
        "    def exact(vv, rr):\n"
        "        return float(Fraction(vv) + Fraction(dt) * Fraction(rr))\n"
        "    fused = np.frompyfunc(exact, 2, 1)\n"
        "    w = fused(v, r).astype(np.float64) if v.size else v + dt * r"
    ),
)
NO_CARRY = ("    carry = v_next == 1.0  # carry rule", "    carry = np.zeros(v_next.shape, bool)")
PREVIOUS_MEMORY = (
    "            z = _mm(h, w_h) + _mm(m_flat, w_m)",
    "            z = _mm(h, w_h) + _mm(m_prev_flat, w_m)",
)
FLOAT32 = (
    "_mm = _matmul_in_index_order\n",
    (
        "def _mm(p, q):\n"
        "    out = np.zeros((*p.shape[:-1], q.shape[1]), dtype=np.float32)\n"
        "    for k in range(p.shape[-1]):\n"
        "        out = out + p[..., k : k + 1].astype(np.float32) * q[k].astype(np.float32)\n"
        "    return out.astype(np.float64)\n"
    ),
)
NO_ALPHA = (
    (
        '        hidden_gain = alpha if "hidden" in sites_placed else 1.0\n'
        '        memory_gain = alpha if "memory_input" in sites_placed else 1.0\n'
        '        state_gain = alpha if "memory_state" in sites_placed else 1.0'
    ),
    "        hidden_gain = memory_gain = state_gain = 1.0",
)

TF_LIKE_TANH = (
    "    return np.asarray(_LIBM_TANH(x), dtype=np.float64).reshape(x.shape)",
    (
        "    t = np.asarray(_LIBM_TANH(x), dtype=np.float64).reshape(x.shape)\n"
        "    return t * (1.0 + 4.0 * 2.0**-53 * (x > 1.0))"
    ),
)

#: variant -> (its edit, the checks it must fail). Measured once, then each set checked to
#: be explained by the edit (see the comments); a change of either side fails the test.
VARIANTS: dict[str, tuple[tuple[str, str], set[str]]] = {
    # Q2: w = v + dt * r rounded once. Only the check built for it sees the difference: the
    # other inputs of the suite round the same either way.
    "fused_multiply_add": (FMA, {"q2_no_fused_multiply_add_in_the_integrator"}),
    # Q1: v_t may reach 1.0 and the count misses its carry. The random inputs of Q1's property
    # checks never land on the carry; Q2's hand-derived carry case and the golden case
    # `identity_carry_rule` (C4) do.
    "carry_dropped": (NO_CARRY, {"q2_hand_derived_sequences", "c4_golden_quantizer_cases"}),
    # L4: the hidden units read m_{t-1}. Every network value moves (N1, N2, L4's decoding,
    # C4); the backward pass, which still follows L4, no longer matches the forward pass's
    # differences (T2, T3).
    "previous_memory": (
        PREVIOUS_MEMORY,
        {
            "c4_golden_network_cases",
            "l4_memory_reconstructs_delayed_input",
            "n1_tiny_network_matches_hand_derivation",
            # W_m reading m_{t-1} also bypasses the memory state's spikes: that placement
            # then equals the plain network at every dt instead of approaching it.
            "n2_large_dt_approaches_plain_lmu",
            "n2_spiking_off_equals_plain_lmu",
            "t2_spiking_gradients_match_differences_of_the_restated_network",
            "t2_surrogate_gradient_carries_the_amplitude",
            "t3_gradients_match_finite_differences",
        },
    ),
    # C1: every matrix product in binary32 while declaring exact: network values are off by
    # f32 rounding (N1, N2, C4), and binary32 losses are too coarse for the differences of T2,
    # T3 and the exact batch mean of T8. The quantizer and the Legendre matrices use no
    # product of this kind and still pass.
    "float32_as_exact": (
        FLOAT32,
        {
            "c4_golden_network_cases",
            "n1_tiny_network_matches_hand_derivation",
            "n1_tiny_spiking_network_matches_hand_derivation",
            "n2_spiking_off_equals_plain_lmu",
            "t2_spiking_gradients_match_differences_of_the_restated_network",
            "t2_surrogate_gradient_carries_the_amplitude",
            "t3_gradients_match_finite_differences",
            "t8_batch_gradient_is_the_mean_over_its_sequences",
        },
    ),
    # Q2 (libm): a tanh 3 to 4 ulp off above x = 1, as TensorFlow's vectorized float64 tanh
    # is. Only the check that reads tanh to the ulp sees it; every other value stays within
    # C1's 1e-12 and no integrator of the suite lies that close to an integer.
    "tanh_not_faithful": (TF_LIKE_TANH, {"q2_tanh_is_faithfully_rounded"}),
    # T2: the surrogate gradient without the amplitude alpha: both T2 checks run alpha != 1.
    "gradient_without_alpha": (
        NO_ALPHA,
        {
            "t2_spiking_gradients_match_differences_of_the_restated_network",
            "t2_surrogate_gradient_carries_the_amplitude",
        },
    ),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_broken_variant_fails_exactly_what_it_breaks(variant: str) -> None:
    edit, expected = VARIANTS[variant]
    module = port_module([edit], f"numpy_port_{variant}")
    results = conformance.run(module.NumpyPort(), "exact")
    assert failing(results) == expected, {r.check: r.message for r in results if r.status == "fail"}
    assert all(r.status == expected_status(r.check) for r in results if r.check not in expected)


class QuantizerOnly:
    """A port with only ``quantize``: the numpy port's, nothing else."""

    def __init__(self) -> None:
        self._port = port_module([], "numpy_port_quantizer_only").NumpyPort()

    def name(self) -> str:
        return "quantizer-only"

    def quantize(self, *arguments: Any) -> Any:
        return self._port.quantize(*arguments)


def test_missing_methods_report_not_implemented_not_failure() -> None:
    results = conformance.check(QuantizerOnly(), "exact")
    by_check = {r.check: r for r in results}
    assert by_check["q1_state_stays_in_unit_interval"].status == "pass"
    assert by_check["n1_tiny_network_matches_hand_derivation"].status == "not implemented"
    assert "forward" in (by_check["n1_tiny_network_matches_hand_derivation"].message or "")
    assert by_check["t3_gradients_match_finite_differences"].status == "not implemented"


class Hangs(QuantizerOnly):
    """A port whose quantizer never returns."""

    def quantize(self, *arguments: Any) -> Any:
        while True:
            pass


def test_a_hanging_port_is_stopped_by_the_time_limit_naming_the_check() -> None:
    results = conformance.run(Hangs(), "exact", pattern="q1_state*", timeout=1.0)
    assert len(results) == 1 and results[0].status == "fail"
    assert "timed out after 1 s in check q1_state_stays_in_unit_interval" in (
        results[0].message or ""
    )
    assert "could not be stopped" not in (results[0].message or "")


class FloatCounts(QuantizerOnly):
    """A port that answers spike counts as floats."""

    def quantize(self, *arguments: Any) -> Any:
        answer = dict(self._port.quantize(*arguments))
        answer["counts"] = np.asarray(answer["counts"], dtype=np.float64)
        return answer


def test_an_answer_of_the_wrong_dtype_fails_with_the_bridges_message() -> None:
    results = conformance.run(FloatCounts(), "exact", pattern="q1_state*")
    assert results[0].status == "fail"
    assert "counts must be integers" in (results[0].message or "")


class Refuses(QuantizerOnly):
    """A port whose quantizer raises on every input, good or bad."""

    def quantize(self, *arguments: Any) -> Any:
        raise RuntimeError("no")


def test_an_exception_fails_the_check_that_needed_an_answer_not_the_runner() -> None:
    results = conformance.run(Refuses(), "exact", pattern="q1_*")
    assert results and all(r.status == "fail" for r in results)
    assert all("RuntimeError: no" in (r.message or "") for r in results)


def test_fixed_level_reports_training_checks_as_not_applicable() -> None:
    module = port_module([], "numpy_port_fixed")
    results = conformance.run(module.NumpyPort(), "fixed", pattern="t1_uniform*")
    assert results[0].status == "n/a"


def test_a_bad_level_or_pattern_is_refused() -> None:
    with pytest.raises(ValueError, match="level"):
        conformance.run(QuantizerOnly(), "approximate")
    with pytest.raises(ValueError, match="no conformance check"):
        conformance.run(QuantizerOnly(), "exact", pattern="zz_nothing")


def test_load_names_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        conformance.load(str(tmp_path / "absent.py") + ":Port")
    with pytest.raises(AttributeError, match="Nope"):
        conformance.load(f"{PORT_FILE}:Nope")
    with pytest.raises(ValueError):
        conformance.load("no-colon")


class WrongLength(QuantizerOnly):
    """A port whose quantizer drops the last count."""

    def quantize(self, *arguments: Any) -> Any:
        answer = dict(self._port.quantize(*arguments))
        answer["counts"] = np.asarray(answer["counts"]).ravel()[:-1]
        return answer


def test_an_answer_of_the_wrong_size_fails_naming_the_field() -> None:
    results = conformance.run(WrongLength(), "exact", pattern="q1_state*")
    assert results[0].status == "fail"
    assert "quantize: counts has" in (results[0].message or "")


class UnreadableRefusal(QuantizerOnly):
    """A port that answers bad input with garbage instead of refusing it."""

    def quantize(self, activation: str, dt: Any, *rest: Any) -> Any:
        if not (isinstance(dt, float) and dt > 0):
            return {"counts": [[1, 2], [3]], "outputs": None, "integrator": [], "final_state": []}
        return self._port.quantize(activation, dt, *rest)


def test_garbage_for_bad_input_is_not_a_refusal() -> None:
    results = conformance.run(UnreadableRefusal(), "exact", pattern="e1_quantizer_rejects_bad_dt")
    assert results[0].status == "fail", results[0]


class FakesNotImplemented(QuantizerOnly):
    """A port whose own exception text starts like the runner's marker."""

    def quantize(self, *arguments: Any) -> Any:
        raise NotImplementedError("not implemented: relu")


def test_a_ports_message_cannot_fake_not_implemented() -> None:
    results = conformance.run(FakesNotImplemented(), "exact", pattern="q2_hand*")
    assert results[0].status == "fail"


def test_a_stopped_thread_does_not_poison_later_checks() -> None:
    first = conformance.run(Hangs(), "exact", pattern="q1_state*", timeout=1.0)
    assert first[0].status == "fail"
    later = conformance.run(QuantizerOnly(), "exact", pattern="q1_*")
    assert all(r.status == "pass" for r in later), later


def test_the_f64_level_passes_the_numpy_port_and_drops_only_order_and_tanh() -> None:
    results = conformance.run(UNCHANGED.NumpyPort(), "f64")
    by_check = {r.check: r for r in results}
    order = by_check.pop("q2_no_fused_multiply_add_in_the_integrator")
    assert order.status == "n/a" and "operation order" in (order.message or "")
    tanh = by_check.pop("q2_tanh_is_faithfully_rounded")
    assert tanh.status == "n/a" and "not faithful" in (tanh.message or "")
    assert all(r.status == expected_status(r.check) for r in by_check.values()), [
        (r.check, r.message) for r in by_check.values() if r.status == "fail"
    ]


@pytest.mark.parametrize("level", ["exact", "f64", "f32"])
def test_a_missing_carry_rule_fails_at_every_level(level: str) -> None:
    module = port_module([NO_CARRY], f"numpy_port_no_carry_{level}")
    results = conformance.run(module.NumpyPort(), level, pattern="q2_hand*")
    assert results[0].status == "fail"
    assert "case 4" in (results[0].message or ""), results[0].message
    golden = conformance.run(module.NumpyPort(), level, pattern="c4_golden_quantizer*")
    assert golden[0].status == "fail" and "carry" in (golden[0].message or ""), golden[0]


class PlainOnly:
    """The numpy port without a spiking quantizer: it declines spiking models (C6)."""

    def __init__(self) -> None:
        self._port = port_module([], "numpy_port_plain_only").NumpyPort()

    def name(self) -> str:
        return "plain-only"

    def lmu_matrices(self, config: Any) -> Any:
        return self._port.lmu_matrices(config)

    def forward(self, model: Any, batch: Any, trace: str) -> Any:
        placement = model["config"]["quantizer"]["placement"]
        if placement != "none":
            raise conformance.NotSupported(f"no spiking quantizer (placement {placement})")
        return self._port.forward(model, batch, trace)


def test_a_declined_input_reports_not_supported_never_a_failure() -> None:
    results = {r.check: r for r in conformance.run(PlainOnly(), "exact")}
    spiking = results["n1_tiny_spiking_network_matches_hand_derivation"]
    assert spiking.status == "not supported"
    assert spiking.message == "no spiking quantizer (placement hidden)"
    assert results["n1_tiny_network_matches_hand_derivation"].status == "pass"
    assert results["c4_golden_legendre_cases"].status == "pass"
    assert results["c4_golden_network_cases"].status == "not supported"
    assert results["c4_golden_quantizer_cases"].status == "not implemented"
    assert results["n4_psmnist_has_102027_trainable_parameters"].status == "n/a"
    assert not [r for r in results.values() if r.status == "fail"], [
        (r.check, r.message) for r in results.values() if r.status == "fail"
    ]


class ValidatesThenDeclines(PlainOnly):
    """Refuses a bad amplitude before it declines spiking: without the runner's request on
    the valid spiking model first, E1's amplitude case (a spiking model) would pass although
    this port runs no spiking model at all."""

    def forward(self, model: Any, batch: Any, trace: str) -> Any:
        if not model["config"]["quantizer"]["amplitude"] > 0:
            raise ValueError("amplitude must be positive")
        return super().forward(model, batch, trace)


def test_an_error_check_never_passes_on_a_declined_input() -> None:
    results = {r.check: r for r in conformance.run(ValidatesThenDeclines(), "exact", "e*")}
    assert results["e1_quantizer_rejects_bad_dt"].status == "not implemented"
    invalid = results["e1_forward_rejects_invalid_config"]
    assert invalid.status == "not supported", invalid
    assert invalid.message == "no spiking quantizer (placement hidden)"
    assert results["e1_forward_rejects_mismatched_shapes"].status == "pass"
    assert results["e2_model_file_version_and_corruption"].status == "pass"


def test_a_port_that_declines_everything_never_crashes_the_runner() -> None:
    class DeclinesAll(PlainOnly):
        def lmu_matrices(self, config: Any) -> Any:
            raise conformance.NotSupported("nothing")

        def forward(self, model: Any, batch: Any, trace: str) -> Any:
            raise conformance.NotSupported("nothing")

    results = conformance.run(DeclinesAll(), "exact")
    assert not [r for r in results if r.status in {"fail", "pass"}], [
        (r.check, r.status, r.message) for r in results if r.status in {"fail", "pass"}
    ]


def test_a_failure_cell_is_one_line_and_the_json_keeps_the_whole_text() -> None:
    module = port_module([PREVIOUS_MEMORY], "numpy_port_one_line")
    results = conformance.run(module.NumpyPort(), "exact", pattern="t2_spiking*")
    failure = results[0]
    assert failure.status == "fail"
    assert "\n" not in (failure.message or "") and len(failure.message or "") <= 240
    assert "minimal failing input" not in (failure.message or "")
    assert "minimal failing input" in (failure.detail or "")
    report = conformance.report(results, "x", "exact")
    assert report["results"][0]["detail"] == failure.detail
    assert f"| FAIL: {failure.message} |" in conformance.render(results, "x", "exact")


def test_label_wording_is_asked_of_hsnns_own_trainers_only() -> None:
    class TerseLabels:
        def __init__(self) -> None:
            self._port = port_module([], "numpy_port_terse").NumpyPort()

        def gradients(self, model: Any, batch: Any, labels: Any) -> Any:
            if len(labels) != batch["batch"] or max(labels) >= 4:
                raise ValueError("bad")
            return self._port.gradients(model, batch, labels)

    results = conformance.run(TerseLabels(), "exact", pattern="t1_uniform*")
    assert results[0].status == "pass", results[0].message


def test_a_tanh_that_is_not_faithful_is_admitted_at_the_f64_level() -> None:
    module = port_module([TF_LIKE_TANH], "numpy_port_tanh_f64")
    results = conformance.run(module.NumpyPort(), "f64")
    assert not [r for r in results if r.status == "fail"], [
        (r.check, r.message) for r in results if r.status == "fail"
    ]
