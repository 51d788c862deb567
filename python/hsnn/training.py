"""Training from Python (SPEC T): :func:`reproduce` runs an experiment through hsnn's engine
with a progress display a notebook shows, checkpoints and resume as ``hsnn reproduce`` has them;
:func:`save_sequences` writes numpy arrays as a sequence file (D7) for it and for
:func:`hsnn.evaluate`.
"""

from __future__ import annotations

import io
import json
import os
import sys
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable, Union

import numpy as np

from hsnn import _native
from hsnn._errors import UsageError

__all__ = ["ProgressBars", "evaluate", "reproduce", "save_sequences"]

PathLike = Union[str, "os.PathLike[str]"]

SEQUENCE_ARRAYS = ("x_train", "y_train", "x_test", "y_test")
"""The arrays of a sequence file, as ``keras.datasets`` names them (SPEC D7)."""

SEQUENCES_FORMAT = "hsnn-sequences"
"""The format named in the ``hsnn`` entry of a sequence file hsnn writes."""
SEQUENCES_FORMAT_VERSION = 1
MADE_BY = "hsnn"
"""The entry (a JSON string array) that says what wrote a sequence file; ignored on saving."""

# A fixed time stamp for every entry, so that the same arrays make the same bytes and the
# same SHA-256, which a model records (E2 version 4).
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def evaluate(
    backend: Any,
    model: Any,
    split: str = "test",
    data: PathLike | Mapping[str, Any] | None = None,
    limit: int | None = None,
    config: PathLike | None = None,
    override_provenance: bool = False,
) -> dict[str, Any]:
    """Accuracy, loss and bit metrics of a model on a split (SPEC B1-B6, D7, E2), as
    ``hsnn eval`` computes them, from the model's record of its training data.

    Parameters
    ----------
    backend : Reference, Optimized or Hardware
        What runs the model (Hardware: converted to fixed point, H9).
    model : Model
        The model.
    split : {"train", "validation", "test"}
        The split.
    data : str, os.PathLike or mapping, optional
        Folder of the MNIST IDX files, or a sequence file (``.npz`` with ``x_train``,
        ``y_train``, ``x_test``, ``y_test``; D7), or those four numpy arrays in a mapping
        (written to a temporary sequence file by :func:`save_sequences`, so the same arrays a
        model was trained on are recognised by their SHA-256); default: the file a model
        trained on a sequence file recorded, else the embedded subset.
    limit : int, optional
        Only the first ``limit`` sequences of the split.
    config : str or os.PathLike, optional
        An experiment file whose data settings to use instead of the model's record; one that
        contradicts the record is refused unless ``override_provenance``.
    override_provenance : bool
        Use ``config`` even where it contradicts the model's record.

    Returns
    -------
    dict
        ``samples``, ``accuracy``, ``loss``, ``metrics`` (B), ``data`` (a description) and
        ``note`` (set when the data differ from the training data's).
    """
    if not isinstance(data, Mapping):
        return _native.evaluate(backend, model, split, data, limit, config, override_provenance)
    with tempfile.TemporaryDirectory(prefix="hsnn-sequences-") as folder:
        path = save_sequences(Path(folder) / "sequences.npz", data)
        return _native.evaluate(backend, model, split, path, limit, config, override_provenance)


def save_sequences(path: PathLike, arrays: Mapping[str, Any]) -> Path:
    """Writes labelled sequences as a sequence file (SPEC D7) that every command reads.

    An ``.npz`` archive as :func:`numpy.savez` writes one, plus an ``hsnn`` array (a JSON
    string) naming its format (``hsnn-sequences`` 1) and what wrote it, with fixed time
    stamps: the same arrays give the same bytes, so a model trained on them records the same
    SHA-256. Written
    atomically (a temporary file beside it, then a rename). The arrays are not checked here:
    hsnn's reader checks them (shape, dtype, non-finite values, labels) when it reads the file,
    naming the array and the fault.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write.
    arrays : mapping
        ``x_train`` and ``x_test`` (``[N, T, F]`` or ``[N, T]``, floats or integers),
        ``y_train`` and ``y_test`` (``[N]`` integer labels); numpy arrays or what
        :func:`numpy.asarray` takes. An ``hsnn`` entry (from a file hsnn wrote) is ignored.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    UsageError
        An array is missing, or ``arrays`` names another.
    """
    # A file hsnn wrote, loaded whole (``dict(np.load(path))``), saves again as it was.
    names = set(arrays) - {MADE_BY}
    if names != set(SEQUENCE_ARRAYS):
        missing = sorted(set(SEQUENCE_ARRAYS) - names)
        extra = sorted(names - set(SEQUENCE_ARRAYS))
        raise UsageError(
            f"a sequence file holds {', '.join(SEQUENCE_ARRAYS)}; missing {missing}, "
            f"not read {extra}"
        )
    path = Path(path)
    buffer = io.BytesIO()
    # What made the file, as one more array (a string) that numpy loads like the others and
    # hsnn's reader passes over. No version number of hsnn goes in: the same arrays must make
    # the same bytes whichever hsnn wrote them.
    made_by = json.dumps(
        {
            "format": SEQUENCES_FORMAT,
            "format_version": SEQUENCES_FORMAT_VERSION,
            "generator": "hsnn.save_sequences",
            "arrays": list(SEQUENCE_ARRAYS),
        }
    )
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        entry = io.BytesIO()
        np.lib.format.write_array(entry, np.array(made_by), allow_pickle=False)
        archive.writestr(zipfile.ZipInfo(f"{MADE_BY}.npy", date_time=_ZIP_TIME), entry.getvalue())
        for name in SEQUENCE_ARRAYS:
            entry = io.BytesIO()
            np.lib.format.write_array(entry, np.asarray(arrays[name]), allow_pickle=False)
            archive.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_TIME), entry.getvalue())
    partial = path.with_name(path.name + ".partial")
    try:
        partial.write_bytes(buffer.getvalue())
        os.replace(partial, path)
    except OSError:
        partial.unlink(missing_ok=True)
        raise
    return path


class ProgressBars:
    """A progress display of a run: one tqdm bar per stage (``tqdm.auto``, so a notebook shows
    a widget), with the epoch's loss and accuracy; without tqdm, one line per epoch."""

    def __init__(self) -> None:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            tqdm = None
        self._tqdm = tqdm
        self._bar: Any = None

    def __call__(self, event: str, details: dict[str, Any]) -> None:
        """Receives one event of the run (see :func:`hsnn._native.reproduce`)."""
        if event == "stage_started" and self._tqdm is not None:
            self._close()
            self._bar = self._tqdm(
                total=details["total"],
                initial=details["completed"],
                desc=details["stage"],
                unit="minibatch",
            )
        elif event == "minibatch" and self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(
                epoch=f"{details['epoch']}/{details['epochs']}",
                loss=f"{details['loss']:.4f}",
                acc=f"{100 * details['accuracy']:.2f}%",
                dt=f"{details['dt']:.4g}",
                refresh=False,
            )
        elif event == "epoch":
            line = (
                f"{details['stage']} epoch {details['epoch']}/{details['epochs']}: dt "
                f"{details['dt']:.4g}, train loss {details['train_loss']:.4f} acc "
                f"{100 * details['train_accuracy']:.2f}%, validation loss "
                f"{details['validation_loss']:.4f} acc {100 * details['validation_accuracy']:.2f}%"
            )
            if self._bar is not None:
                self._bar.write(line)
            else:
                print(line, file=sys.stderr)
        elif event == "message":
            (self._bar.write if self._bar is not None else _stderr)(details["text"])
        elif event == "stage_stopped":
            self._close()

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _stderr(text: str) -> None:
    print(text, file=sys.stderr)


def reproduce(
    config: PathLike | None = None,
    *,
    backend: Any = None,
    data: PathLike | Mapping[str, Any] | None = None,
    out: PathLike | None = None,
    resume: bool = False,
    force: bool = False,
    progress: bool | Callable[[str, dict[str, Any]], None] = True,
    stop_after_epochs: int | None = None,
) -> dict[str, Any]:
    """Trains and evaluates an experiment, as ``hsnn reproduce`` does (SPEC T1-T8).

    Parameters
    ----------
    config : str or os.PathLike, optional
        The experiment file (``configs/*.json``); default: the built-in embedded-quick one.
    backend : Reference or Optimized, optional
        Default ``Optimized()`` on every core.
    data : str, os.PathLike or mapping, optional
        Folder of the MNIST IDX files (``bash data/fetch.sh``), or a sequence file (``.npz``
        with ``x_train``, ``y_train``, ``x_test``, ``y_test``, as :func:`numpy.savez` writes
        them; SPEC D7), or those four numpy arrays in a mapping: the run keeps them in ``out``
        as ``sequences.npz`` (:func:`save_sequences`), which its models name; default: the
        embedded subset.
    out : str or os.PathLike, optional
        The run's folder (checkpoints, models, ``results.json``); default ``runs/<name>``.
    resume, force : bool
        Continue from the checkpoints in ``out`` (bit for bit, T8), or start over.
    progress : bool or callable
        ``True``: :class:`ProgressBars`; ``False``: nothing; a callable gets every event.
    stop_after_epochs : int, optional
        Stop after this many epochs of the current stage (after their checkpoint).

    Returns
    -------
    dict
        The results file's contents.

    Raises
    ------
    RunInterrupted
        Ctrl-C or ``stop_after_epochs`` stopped the run after a checkpoint; call again with
        ``resume=True``.
    UsageError
        Arrays without ``out``, or arrays other than those a resumed run was trained on.
    Exception
        Whatever a ``progress`` callable raised, after the run stopped with a checkpoint.
    """
    callback = ProgressBars() if progress is True else (progress or None)
    if isinstance(data, Mapping):
        data = _keep_arrays(data, out, resume=resume, force=force)
    return _native.reproduce(
        config,
        backend=backend,
        data=data,
        out=out,
        resume=resume,
        force=force,
        progress=callback,
        stop_after_epochs=stop_after_epochs,
    )


def _keep_arrays(
    arrays: Mapping[str, Any], out: PathLike | None, *, resume: bool, force: bool
) -> Path:
    """Writes a run's arrays into its folder as ``sequences.npz``; a folder that holds other
    arrays keeps them (the run there was trained on them) unless ``force`` starts it over."""
    if out is None:
        raise UsageError(
            "data given as arrays needs out=: the run keeps them there as sequences.npz, the "
            "file its models name"
        )
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "sequences.npz"
    fresh = save_sequences(folder / "sequences.npz.new", arrays)
    try:
        if path.exists() and path.read_bytes() != fresh.read_bytes() and not force:
            # A finished or stopped run's models name this file: its arrays stay unless the
            # run is started over.
            raise UsageError(
                f"{path} holds other arrays than these, which the run in {folder} was trained "
                "on; start it over with force=True, or use another out"
            )
        os.replace(fresh, path)
    finally:
        fresh.unlink(missing_ok=True)
    return path
