"""Training from Python (SPEC T): :func:`reproduce` runs an experiment through hsnn's engine
with a progress display a notebook shows, checkpoints and resume as ``hsnn reproduce`` has them.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable, Union

from hsnn import _native

__all__ = ["ProgressBars", "reproduce"]

PathLike = Union[str, "os.PathLike[str]"]


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
    data: PathLike | None = None,
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
    data : str or os.PathLike, optional
        Folder of the MNIST IDX files (``bash data/fetch.sh``), or a sequence file (``.npz``
        with ``x_train``, ``y_train``, ``x_test``, ``y_test``, as :func:`numpy.savez` writes
        them; SPEC D7); default: the embedded subset.
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
    Exception
        Whatever a ``progress`` callable raised, after the run stopped with a checkpoint.
    """
    callback = ProgressBars() if progress is True else (progress or None)
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
