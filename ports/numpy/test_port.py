"""pytest suite of the numpy port: golden cases at SPEC C1, gradients, Q1's properties.

Run: ``python -m pytest ports/numpy``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import check_golden as cg
from hsnn_numpy_port import HsnnError, NumpyPort, jsonable, keras2_probability

VECTORS = cg.load_golden()
PORT = NumpyPort()
CASES = 256  # as Q1's proptests


def _ids(cases: list[dict[str, Any]]) -> list[str]:
    return [case["name"] for case in cases]


# ---------------------------------------------------------------------------------------------
# Golden vectors at C1 (SPEC C4)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", VECTORS["quantizer"], ids=_ids(VECTORS["quantizer"]))
def test_c4_golden_quantizer_case_at_exact_level(case: dict[str, Any]) -> None:
    name, ok, detail = cg.check_quantizer_case(PORT, case)
    assert ok, f"{name}: {detail}"


@pytest.mark.parametrize("expm", ["taylor", "scipy"])
@pytest.mark.parametrize("case", VECTORS["lmu"], ids=_ids(VECTORS["lmu"]))
def test_c4_golden_lmu_case_at_exact_level(case: dict[str, Any], expm: str) -> None:
    name, ok, detail = cg.check_lmu_case(NumpyPort(expm=expm), case)
    assert ok, f"{name}: {detail}"


@pytest.mark.parametrize("case", VECTORS["network"], ids=_ids(VECTORS["network"]))
def test_c4_golden_network_case_at_exact_level(case: dict[str, Any]) -> None:
    name, ok, detail = cg.check_network_case(PORT, case)
    assert ok, f"{name}: {detail}"


def test_c4_results_convert_to_the_json_of_the_golden_file() -> None:
    """``jsonable`` writes a ``QuantizerRun`` and a ``NetworkCase``'s logits and trace as C4."""
    case = VECTORS["quantizer"][0]
    run = PORT.quantize(
        case["activation"], case["dt"], case["amplitude"], case["inputs"], case["initial_state"]
    )
    written = jsonable(run, tensors=False)
    assert set(written) - {"rates"} == set(case["expected"])
    assert written["counts"] == case["expected"]["counts"]
    assert all(isinstance(v, int) for v in written["counts"])
    for key in ("outputs", "integrator", "final_state"):
        assert isinstance(written[key], list) and cg.reals_exact(
            written[key], case["expected"][key]
        )
    network = VECTORS["network"][4]
    out = jsonable(PORT.forward(network["model"], network["inputs"], "full"))
    assert out["logits"]["rows"] == network["logits"]["rows"]
    assert out["logits"]["cols"] == network["logits"]["cols"]
    sites = out["trace"]["sites"]
    assert [s["counts"] for s in sites] == [s["counts"] for s in network["trace"]["sites"]]
    assert all(isinstance(v, int) for v in sites[0]["counts"])


def test_l2_scipy_fixtures() -> None:
    results = list(cg.check_scipy_fixtures(PORT))
    assert len(results) == 5
    failed = [r for r in results if not r[1]]
    assert not failed, failed


def test_hand_derived_examples_of_q2_q3_l1_n1_b6() -> None:
    failed = [r for r in cg.check_hand_examples(PORT) if not r[1]]
    assert not failed, failed


def test_q2_taylor_expm_is_the_references_bit_for_bit() -> None:
    """L2: following the spelled-out algorithm gives the reference's bits on every case."""
    for case in VECTORS["lmu"]:
        matrices = PORT.lmu_matrices(case)
        assert cg.bits_identical(matrices["a_bar"], case["a_bar"]["data"]), case["name"]
        assert cg.bits_identical(matrices["b_bar"], case["b_bar"]["data"]), case["name"]


# ---------------------------------------------------------------------------------------------
# Gradients (SPEC T1-T3)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(cg.NON_SPIKING_PROBLEMS))
def test_t3_gradients_match_central_differences(seed: int) -> None:
    name, ok, detail = cg.check_gradients_non_spiking(PORT, seed)
    assert ok, f"{name}: {detail}"


@pytest.mark.parametrize(
    ("index", "problem"), list(enumerate(cg.SPIKING_PROBLEMS)), ids=lambda v: str(v)
)
def test_t2_spiking_gradients_match_differences_of_the_restated_network(
    index: int, problem: tuple[str, float, float, str]
) -> None:
    placement, dt, amplitude, activation = problem
    name, ok, detail = cg.check_gradients_spiking(
        PORT, 100 + index, placement, dt, amplitude, activation
    )
    assert ok, f"{name}: {detail}"


def test_t1_uniform_logits_give_log_classes() -> None:
    rng = np.random.default_rng(3)
    model, batch, _ = cg.random_problem(rng)
    outputs = model["config"]["output_size"]
    for name in ("readout_kernel", "readout_bias"):
        tensor = model["weights"][name]
        tensor["data"] = [0.0] * len(tensor["data"])
    labels = [0] * batch["batch"]
    out = PORT.gradients(model, batch, labels)
    assert abs(out["loss"] - math.log(outputs)) <= 1e-15
    with pytest.raises(HsnnError, match="output_size"):
        PORT.gradients(model, batch, [outputs] * batch["batch"])
    with pytest.raises(HsnnError, match="labels"):
        PORT.gradients(model, batch, [*labels, 0])


def test_t1b_keras2_probability_clips_and_differentiates() -> None:
    """T1b's hand-derived clip cases, and agreement with T1 away from the clip."""
    loss, grad = keras2_probability(np.array([40.0, 0.0, 0.0]), 0)
    assert loss == float(np.float32(2.0**-23)) or abs(loss - 2.0**-23) <= 2.0**-45
    assert np.all(grad == 0.0)
    loss, grad = keras2_probability(np.array([0.0, 40.0, 0.0]), 0)
    assert abs(loss - 16.1180957) <= 1e-6
    assert np.all(grad == 0.0)
    logits = np.array([0.3, -1.2, 0.9])
    _, grad = keras2_probability(logits, 2)
    expected = np.exp(logits) / np.sum(np.exp(logits))
    expected[2] -= 1.0
    assert np.max(np.abs(grad - expected)) <= 1e-6


def test_t1b_gradients_match_differences_of_the_f32_loss() -> None:
    """T1b's network check: central differences with step 1e-2 of the binary32 loss."""
    rng = np.random.default_rng(17)
    model, batch, labels = cg.random_problem(rng, activation="tanh")
    out = PORT.gradients(model, batch, labels, loss="keras2_probability")
    reference = PORT.gradients(model, batch, labels)
    scale = max(float(np.max(np.abs(g))) for g in reference["gradients"].values() if g is not None)

    def loss_of(m: dict[str, Any]) -> float:
        return float(PORT.gradients(m, batch, labels, loss="keras2_probability")["loss"])

    step = 1e-2
    for name, grad in out["gradients"].items():
        if grad is None:
            continue
        for index, g in enumerate(np.asarray(grad).ravel()):
            plus, minus = cg.copy.deepcopy(model), cg.copy.deepcopy(model)
            plus["weights"][name]["data"][index] += step
            minus["weights"][name]["data"][index] -= step
            fd = (loss_of(plus) - loss_of(minus)) / (2 * step)
            assert abs(g - fd) <= 2e-3 * max(scale, 1e-2), (name, index, g, fd)
        ref = reference["gradients"][name]
        assert np.max(np.abs(grad - ref)) <= 1e-5 * max(scale, 1.0), name


# ---------------------------------------------------------------------------------------------
# Q1's properties, as mathematical facts (SPEC Q1 P1-P5)
# ---------------------------------------------------------------------------------------------


def _random_quantizer_case(
    rng: np.random.Generator,
) -> tuple[str, float, float, np.ndarray, np.ndarray]:
    """Q1's proptest domain: dt log-uniform in [0.01, 100], alpha in [0.5, 2], 1 to 59 steps of
    1 to 4 neurons, inputs in [-5, 5]; initial states uniform in [0, 1)."""
    activation = str(rng.choice(["identity", "relu", "tanh"]))
    dt = float(10.0 ** rng.uniform(-2.0, 2.0))
    alpha = float(rng.uniform(0.5, 2.0))
    steps, neurons = int(rng.integers(1, 60)), int(rng.integers(1, 5))
    inputs = rng.uniform(-5.0, 5.0, size=(steps, neurons))
    v0 = rng.uniform(0.0, 1.0, size=neurons)
    return activation, dt, alpha, inputs, v0


def _rates(activation: str, inputs: np.ndarray) -> np.ndarray:
    if activation == "tanh":
        return np.tanh(inputs)
    if activation == "relu":
        return np.maximum(inputs, 0.0)
    return inputs


def test_q1_p1_state_stays_in_unit_interval() -> None:
    """P1: 0 <= v_t < 1 for every t (exactly: the carry rule keeps it so, Q2)."""
    rng = np.random.default_rng(1)
    for _ in range(CASES):
        activation, dt, alpha, inputs, v0 = _random_quantizer_case(rng)
        v = v0
        for t in range(inputs.shape[0]):
            v = PORT.quantize(activation, dt, alpha, inputs[t : t + 1], v)["final_state"]
            assert np.all(v >= 0.0) and np.all(v < 1.0)


def test_q1_p2_output_error_below_one_spike() -> None:
    """P2: |a_t - alpha f(x_t)| < alpha / dt (up to the rounding of dt * r and v + p)."""
    rng = np.random.default_rng(2)
    for _ in range(CASES):
        activation, dt, alpha, inputs, v0 = _random_quantizer_case(rng)
        run = PORT.quantize(activation, dt, alpha, inputs, v0)
        error = np.abs(run["outputs"] - alpha * _rates(activation, inputs))
        slack = 1e-12 * alpha * (1.0 + np.abs(dt * _rates(activation, inputs))) / dt
        assert np.all(error < alpha / dt + slack)


def test_q1_p3_cumulative_error_bounded_by_amplitude() -> None:
    """P3: sum n_t = sum dt r_t + v_0 - v_T, hence |sum a_t dt - alpha sum r_t dt| < alpha."""
    rng = np.random.default_rng(3)
    for _ in range(CASES):
        activation, dt, alpha, inputs, v0 = _random_quantizer_case(rng)
        run = PORT.quantize(activation, dt, alpha, inputs, v0)
        rates = _rates(activation, inputs)
        total = np.sum(dt * rates, axis=0)
        slack = 1e-12 * (1.0 + np.sum(np.abs(dt * rates), axis=0))
        identity = np.sum(run["counts"], axis=0) - (total + v0 - run["final_state"])
        assert np.all(np.abs(identity) <= slack)
        error = np.abs(np.sum(run["outputs"] * dt, axis=0) - alpha * np.sum(rates * dt, axis=0))
        assert np.all(error < alpha * (1.0 + slack))


def test_q1_p4_one_bit_spikes_when_dt_times_max_rate_at_most_one() -> None:
    """P4: dt * max|f| <= 1 gives every n_t in {-1, 0, 1}."""
    rng = np.random.default_rng(4)
    for _ in range(CASES):
        activation, dt, alpha, inputs, v0 = _random_quantizer_case(rng)
        if activation == "tanh":
            dt = min(dt, 1.0)  # |tanh| < 1
        else:
            largest = float(np.max(np.abs(inputs)))
            inputs = inputs * (1.0 / (largest * dt))  # dt max|x| = 1, up to rounding
            while dt * float(np.max(np.abs(inputs))) > 1.0:
                inputs = np.nextafter(inputs, 0.0)
        assert dt * float(np.max(np.abs(_rates(activation, inputs)))) <= 1.0
        counts = PORT.quantize(activation, dt, alpha, inputs, v0)["counts"]
        assert set(np.unique(counts).tolist()) <= {-1, 0, 1}


def test_q1_p4_holds_only_up_to_rounding() -> None:
    """Q2's arithmetic breaks P4 at one edge: after ``w = -2^-53`` the state is ``1 - 2^-53``,
    and ``v + 1`` rounds to 2.0 (ties to even), so ``dt max|f| = 1`` still yields ``n = 2``.
    This pins the port to Q2's order; README lists it as an ambiguity of P4."""
    run = PORT.quantize("identity", 1.0, 1.0, np.array([[-(2.0**-53)], [1.0]]), [0.0])
    assert run["counts"].ravel().tolist() == [-1, 2]
    assert run["final_state"].tolist() == [0.0]


def test_q1_p5_relu_never_spikes_negative() -> None:
    rng = np.random.default_rng(5)
    for _ in range(CASES):
        _, dt, alpha, inputs, v0 = _random_quantizer_case(rng)
        assert np.all(PORT.quantize("relu", dt, alpha, inputs, v0)["counts"] >= 0)


# ---------------------------------------------------------------------------------------------
# Q2 edges and E1
# ---------------------------------------------------------------------------------------------


def test_q2_carry_and_the_2_pow_52_limit() -> None:
    run = PORT.quantize("identity", 1.0, 1.0, np.array([[-1e-20, -(2.0**-54)]]), [0.0, 0.0])
    assert run["counts"].tolist() == [[0, 0]] and run["final_state"].tolist() == [0.0, 0.0]
    with pytest.raises(HsnnError, match=r"2\^52") as error:
        PORT.quantize("identity", 1.0, 1.0, np.array([[2.0**52]]), [0.0])
    assert error.value.kind == "numerical"
    with pytest.raises(HsnnError, match=r"2\^52"):
        PORT.quantize("identity", 2.0**51, 1.0, np.array([[2.0]]), [0.0])
    with pytest.raises(HsnnError, match=r"2\^52"):
        PORT.quantize("identity", 1.0, 1.0, np.array([[2.0**52 - 1.0]]), [0.75])
    last = PORT.quantize("identity", 1.0, 1.0, np.array([[2.0**52 - 1.0]]), [0.0])
    assert last["counts"].tolist() == [[2**52 - 1]]


def test_n5_quantize_over_zero_neurons_or_steps_returns_empty_buffers() -> None:
    for shape in ((0, 3), (4, 0)):
        run = PORT.quantize("tanh", 1.0, 1.0, np.zeros(shape), [0.1] * shape[1])
        assert run["counts"].shape == shape and run["final_state"].shape == (shape[1],)


def test_e1_quantizer_rejects_bad_arguments() -> None:
    x = np.zeros((3, 2))
    for dt in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(HsnnError, match="greater than 0"):
            PORT.quantize("tanh", dt, 1.0, x, [0.0, 0.0])
    with pytest.raises(HsnnError, match="2 values"):
        PORT.quantize("tanh", 1.0, 1.0, x, [0.0])
    with pytest.raises(HsnnError, match=r"\[0, 1\)"):
        PORT.quantize("tanh", 1.0, 1.0, x, [0.0, 1.0])
    bad = x.copy()
    bad[2, 0] = math.nan
    with pytest.raises(HsnnError, match="index 4"):
        PORT.quantize("tanh", 1.0, 1.0, bad, [0.0, 0.0])
    with pytest.raises(HsnnError, match="amplitude"):
        PORT.quantize("tanh", 1.0, 0.0, x, [0.0, 0.0])


def test_e1_forward_rejects_mismatched_shapes() -> None:
    case = VECTORS["network"][1]
    model, batch = cg.copy.deepcopy(case["model"]), case["inputs"]
    model["weights"]["kernel_hidden"] = {"rows": 5, "cols": 4, "data": [0.0] * 20}
    with pytest.raises(HsnnError, match="5 x 5") as error:
        PORT.forward(model, batch)
    assert "weights.kernel_hidden" in str(error.value) and "5 x 4" in str(error.value)
    model = cg.copy.deepcopy(case["model"])
    model["weights"]["encoder_hidden"] = None
    with pytest.raises(HsnnError, match="no tensor"):
        PORT.forward(model, batch)
    model = cg.copy.deepcopy(case["model"])
    model["config"]["lmu"]["connections"]["memory_to_memory"] = False
    with pytest.raises(HsnnError, match="disables"):
        PORT.forward(model, batch)
    with pytest.raises(HsnnError, match="features"):
        PORT.forward(case["model"], dict(batch, features=3))
    with pytest.raises(HsnnError, match="values"):
        PORT.forward(case["model"], dict(batch, data=batch["data"][:-1]))


def test_q3_initial_state_independent_of_batching() -> None:
    """Q3, N5: a sequence gives the same result alone or in any batch, at any position."""
    case = VECTORS["network"][4]
    batch = case["inputs"]
    whole = PORT.forward(case["model"], batch, "full")
    steps, features = batch["steps"], batch["features"]
    for b in range(batch["batch"]):
        one = {
            "batch": 1,
            "steps": steps,
            "features": features,
            "data": batch["data"][b * steps * features : (b + 1) * steps * features],
            "sample_ids": [batch["sample_ids"][b]],
        }
        alone = PORT.forward(case["model"], one, "counts")
        assert np.array_equal(alone["logits"][0], whole["logits"][b])
        for mine, theirs in zip(alone["trace"]["sites"], whole["trace"]["sites"], strict=True):
            n = theirs["neurons"]
            assert np.array_equal(
                mine["counts"], theirs["counts"][b * steps * n : (b + 1) * steps * n]
            )


def test_n2_large_dt_approaches_plain_lmu() -> None:
    """N2, Q4: the logit error of every spiking placement falls with dt, below 1e-5 at 1e8."""
    case = VECTORS["network"][0]
    plain = PORT.forward(case["model"], case["inputs"], "none")["logits"]
    for placement in ("hidden", "memory_input", "both"):
        errors = []
        for dt in (1e2, 1e4, 1e6, 1e8):
            model = cg.copy.deepcopy(case["model"])
            model["config"]["quantizer"].update(placement=placement, dt=dt)
            logits = PORT.forward(model, case["inputs"], "none")["logits"]
            errors.append(float(np.max(np.abs(logits - plain))))
        assert errors == sorted(errors, reverse=True), (placement, errors)
        assert errors[-1] < 1e-5, (placement, errors)
