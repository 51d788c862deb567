"""The Python half of the conformance bridge (SPEC C6): hands a port the arguments the Rust
checks pass, and turns its answer into the shapes of the Rust types.

The Rust side (``PyPort`` in ``python/src/port.rs``) serialises each call's arguments as the
serde shapes of the Rust types (docs/PORTING.md); here, every list of numbers becomes a 1-d
numpy array (float64, or int64 for integers), so a port receives numpy. The answer is checked
and flattened back: a method the port lacks raises :class:`NotImplementedByPort`, an answer of
the wrong shape or dtype raises :class:`BadAnswer`; :class:`NotSupported`, raised by the port,
declines an input it does not support; any other exception is the port's own refusal of the
input and goes back to Rust unchanged.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["BadAnswer", "CheckTimeout", "NotImplementedByPort", "NotSupported", "call", "stop"]


class NotImplementedByPort(Exception):
    """The port has no method the check needs: the check reports ``not implemented``."""


class NotSupported(Exception):
    """Raised by a port for an input it does not support (SPEC C6): the check reports
    ``not supported: <reason>``, the exception's message, never a failure or a pass.

    A port raises it for what it leaves out by design (a quantizer placement, a loss, an
    activation, a discretizer, a trace level), before it looks at anything else of the input;
    bad input is refused with any other exception (E1, E2). Public as
    ``hsnn.conformance.NotSupported``.

    Examples
    --------
    >>> from hsnn.conformance import NotSupported
    >>> class PlainLmuPort:
    ...     def forward(self, model, batch, trace):
    ...         placement = model["config"]["quantizer"]["placement"]
    ...         if placement != "none":
    ...             raise NotSupported(f"no spiking quantizer (placement {placement})")
    ...         ...
    """


class BadAnswer(Exception):
    """The port answered, but not in the shape of the contract: the check fails with this."""


class CheckTimeout(Exception):
    """Raised inside a port that outlived the runner's time limit, to stop it."""


#: Threads whose check ran out of time: every later call of theirs fails at once, since a
#: property check catches a failure and tries smaller inputs, which would hang again. Held by
#: the thread object, not its id, which the system reuses; weakly, so ended threads leave.
_stopped: weakref.WeakSet[threading.Thread] = weakref.WeakSet()


def stop(thread: threading.Thread) -> None:
    """Makes every later bridge call on ``thread`` raise :class:`CheckTimeout`."""
    _stopped.add(thread)


def _numeric(values: list[Any]) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def to_port(value: Any) -> Any:
    """Arguments as a port receives them: lists of numbers as 1-d numpy arrays (C6)."""
    if isinstance(value, list):
        if _numeric(value):
            if value and all(isinstance(v, int) for v in value):
                return np.array(value, dtype=np.int64)
            return np.array(value, dtype=np.float64)
        return [to_port(item) for item in value]
    if isinstance(value, dict):
        return {key: to_port(item) for key, item in value.items()}
    return value


def _tensor2(value: Any, where: str) -> dict[str, Any]:
    """A Tensor2 ``{rows, cols, data}`` from a 2-d array or a Tensor2 mapping."""
    if isinstance(value, Mapping) and {"rows", "cols", "data"} <= set(value):
        rows, cols = int(value["rows"]), int(value["cols"])
        return {
            "rows": rows,
            "cols": cols,
            "data": _sized(_floats(value["data"], where), rows * cols, f"{where} data"),
        }
    array = np.asarray(value)
    if array.ndim != 2:
        raise BadAnswer(f"{where} must be a 2-d array, got shape {array.shape}")
    return {"rows": array.shape[0], "cols": array.shape[1], "data": _floats(array, where)}


def _floats(value: Any, where: str) -> list[float]:
    array = np.asarray(value)
    if array.dtype.kind not in "fiu":
        raise BadAnswer(f"{where} must be numbers, got dtype {array.dtype}")
    return array.astype(np.float64).ravel(order="C").tolist()


def _integers(value: Any, where: str) -> list[int]:
    array = np.asarray(value)
    if array.size and array.dtype.kind not in "iu":
        raise BadAnswer(
            f"{where} must be integers (spike counts, SPEC Q1), got dtype {array.dtype}"
        )
    return array.astype(np.int64).ravel(order="C").tolist()


def _field(answer: Any, key: str, method: str) -> Any:
    if not isinstance(answer, Mapping):
        raise BadAnswer(f"{method} must return a dict, got {type(answer).__name__}")
    if key not in answer:
        raise BadAnswer(f"{method}'s answer has no field {key!r} (it has {sorted(answer)})")
    return answer[key]


def _site(site: Any, index: int) -> dict[str, Any]:
    where = f"forward: trace.sites[{index}]"
    integrator = site.get("integrator") if isinstance(site, Mapping) else None
    return {
        "site": _field(site, "site", where),
        "activation": _field(site, "activation", where),
        "batch": int(_field(site, "batch", where)),
        "steps": int(_field(site, "steps", where)),
        "neurons": int(_field(site, "neurons", where)),
        "fan_out": _integers(_field(site, "fan_out", where), f"{where}.fan_out"),
        "fan_out_last_step": _integers(
            _field(site, "fan_out_last_step", where), f"{where}.fan_out_last_step"
        ),
        "counts": _integers(_field(site, "counts", where), f"{where}.counts"),
        "integrator": [] if integrator is None else _floats(integrator, f"{where}.integrator"),
    }


def _method(port: Any, name: str) -> Any:
    function = getattr(port, name, None)
    if not callable(function):
        raise NotImplementedByPort(f"{type(port).__name__} has no method {name}()")
    return function


def call(port: Any, method: str, arguments: dict[str, Any]) -> Any:
    """Calls ``method`` of ``port`` with the check's ``arguments`` and returns the answer in
    the serde shape of the Rust result type (C6, docs/PORTING.md).

    Parameters
    ----------
    port : object
        The implementation under test.
    method : str
        ``lmu_matrices``, ``quantize``, ``forward`` or ``gradients_with_loss``.
    arguments : dict
        The arguments by name, as the Rust types serialise them.

    Returns
    -------
    dict
        ``LmuMatrices``, ``QuantizerRun``, ``ForwardOutput`` or ``GradientOutput``.
    """
    if threading.current_thread() in _stopped:
        raise CheckTimeout("the check ran out of time")
    given = to_port(arguments)
    # The port's own exceptions are its refusal of the input; what goes wrong after it
    # answered is the answer's fault, never a refusal.
    answer = _ask(port, method, given)
    try:
        return _read(method, answer, given)
    except BadAnswer:
        raise
    except Exception as error:
        raise BadAnswer(
            f"{method}: the answer cannot be read: {type(error).__name__}: {error}"
        ) from error


def _ask(port: Any, method: str, given: dict[str, Any]) -> Any:
    if method == "lmu_matrices":
        return _method(port, method)(given["config"])
    if method == "quantize":
        return _method(port, method)(
            given["activation"],
            given["dt"],
            given["amplitude"],
            given["inputs"],
            given["initial_state"],
        )
    if method == "forward":
        return _method(port, method)(given["model"], given["batch"], given["trace"])
    if method == "gradients_with_loss":
        if callable(getattr(port, method, None)):
            return getattr(port, method)(
                given["model"], given["batch"], given["labels"], given["loss"]
            )
        if given["loss"] == "softmax_cross_entropy":
            return _method(port, "gradients")(given["model"], given["batch"], given["labels"])
        raise NotImplementedByPort(
            f"{type(port).__name__} has no method gradients_with_loss() (loss {given['loss']})"
        )
    raise NotImplementedByPort(f"the bridge knows no method {method}()")


def _sized(values: list[Any], expected: int, where: str) -> list[Any]:
    if len(values) != expected:
        raise BadAnswer(f"{where} has {len(values)} values, expected {expected}")
    return values


def _shaped(tensor: dict[str, Any], rows: int, cols: int, where: str) -> dict[str, Any]:
    if (tensor["rows"], tensor["cols"]) != (rows, cols):
        raise BadAnswer(f"{where} is {tensor['rows']} x {tensor['cols']}, expected {rows} x {cols}")
    return tensor


def _read(method: str, answer: Any, given: dict[str, Any]) -> Any:
    """The answer in the serde shape of the Rust result, its sizes checked against the call."""
    if method == "lmu_matrices":
        order = int(given["config"]["order"])
        shapes = {
            "a": (order, order),
            "b": (order, 1),
            "a_bar": (order, order),
            "b_bar": (order, 1),
        }
        return {
            key: _shaped(
                _tensor2(_field(answer, key, method), f"{method}: {key}"),
                *shape,
                f"{method}: {key}",
            )
            for key, shape in shapes.items()
        }
    if method == "quantize":
        inputs = given["inputs"]
        size = int(inputs["rows"]) * int(inputs["cols"])
        return {
            "counts": _sized(
                _integers(_field(answer, "counts", method), "quantize: counts"),
                size,
                "quantize: counts",
            ),
            "outputs": _sized(
                _floats(_field(answer, "outputs", method), "quantize: outputs"),
                size,
                "quantize: outputs",
            ),
            "integrator": _sized(
                _floats(_field(answer, "integrator", method), "quantize: integrator"),
                size,
                "quantize: integrator",
            ),
            "final_state": _sized(
                _floats(_field(answer, "final_state", method), "quantize: final_state"),
                int(inputs["cols"]),
                "quantize: final_state",
            ),
        }
    batch = int(given["batch"]["batch"])
    outputs = int(given["model"]["config"]["output_size"])
    if method == "forward":
        trace = _field(answer, "trace", method)
        sites = _field(trace, "sites", "forward: trace")
        hidden = trace.get("hidden") if isinstance(trace, Mapping) else None
        read_sites = [_site(site, index) for index, site in enumerate(sites)]
        for index, site in enumerate(read_sites):
            size = site["batch"] * site["steps"] * site["neurons"]
            _sized(site["counts"], size, f"forward: trace.sites[{index}].counts")
            if site["integrator"]:
                _sized(site["integrator"], size, f"forward: trace.sites[{index}].integrator")
            _sized(site["fan_out"], site["neurons"], f"forward: trace.sites[{index}].fan_out")
            _sized(
                site["fan_out_last_step"],
                site["neurons"],
                f"forward: trace.sites[{index}].fan_out_last_step",
            )
        return {
            "logits": _shaped(
                _tensor2(_field(answer, "logits", method), "forward: logits"),
                batch,
                outputs,
                "forward: logits",
            ),
            "trace": {
                "dt": float(_field(trace, "dt", "forward: trace")),
                "sites": read_sites,
                "hidden": [] if hidden is None else _floats(hidden, "forward: trace.hidden"),
            },
        }
    gradients = _field(answer, "gradients", method)
    if not isinstance(gradients, Mapping):
        raise BadAnswer(f"{method}: gradients must be a dict of weight name to array")
    weights = given["model"]["weights"]
    read: dict[str, Any] = {}
    for name, value in gradients.items():
        where = f"{method}: gradients.{name}"
        if value is None:
            read[name] = None
            continue
        tensor = _tensor2(value, where)
        weight = weights.get(name) if isinstance(weights, Mapping) else None
        if isinstance(weight, Mapping):
            _shaped(tensor, int(weight["rows"]), int(weight["cols"]), where)
        read[name] = tensor
    return {
        "loss": float(_field(answer, "loss", method)),
        "gradients": read,
        "logits": _shaped(
            _tensor2(_field(answer, "logits", method), f"{method}: logits"),
            batch,
            outputs,
            f"{method}: logits",
        ),
    }
