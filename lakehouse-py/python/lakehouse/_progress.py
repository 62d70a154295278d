"""Progress reporting for long calls (``Lakehouse.embed_dataset``): a tqdm bar when tqdm is
installed, or the caller's own callback."""

from __future__ import annotations

from typing import Any, Callable, Optional


class _Bar:
    """A tqdm bar over rows, opened on the first report (when the total is known)."""

    def __init__(self, tqdm: Any, desc: str) -> None:
        self._tqdm = tqdm
        self._desc = desc
        self._bar: Any = None

    def __call__(self, progress: dict[str, int]) -> None:
        if self._bar is None:
            self._bar = self._tqdm(total=progress["total"], unit="rows", desc=self._desc)
        self._bar.n = progress["done"]
        self._bar.set_postfix(embedded=progress["embedded"], refresh=False)
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def reporter(progress: Any, desc: str) -> Optional[Callable[[dict[str, int]], None]]:
    """What to call after each batch: ``None`` (the default) → a tqdm bar when tqdm is
    installed, else nothing; ``False`` → nothing; ``True`` → a tqdm bar (ImportError
    without tqdm); a callable → itself."""
    if progress is False:
        return None
    if progress is None or progress is True:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            if progress is True:
                raise ImportError("progress=True needs tqdm: pip install tqdm") from None
            return None
        return _Bar(tqdm, desc)
    if callable(progress):
        return progress
    raise TypeError(f"progress is None, a bool or a callable, not {type(progress).__name__}")


def finish(report: Any) -> None:
    """Closes the bar ``reporter`` made, if it made one."""
    if isinstance(report, _Bar):
        report.close()
