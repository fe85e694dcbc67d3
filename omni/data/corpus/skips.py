"""Bad-data bookkeeping: `Skip(reason)` rejects one input; `SkipCounter` tallies reasons for the summary and
logs every skipped item; `unexpected(e)` turns any other exception of one item into a counted skip."""
from __future__ import annotations

import collections
import logging
import pathlib
import re
import traceback

log = logging.getLogger(__name__)


class Skip(Exception):
    """One input is unusable; `reason` is a short snake_case key counted in the build summary."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail = reason, detail


def unexpected(e: Exception) -> Skip:
    """An item's unexpected exception as a `Skip` counted under its own reason (`unexpected_key_error`)."""
    name = re.sub(r"(?<!^)(?=[A-Z])", "_", type(e).__name__).lower()
    where = traceback.extract_tb(e.__traceback__)[-1:] if e.__traceback__ else []
    at = f" (at {pathlib.Path(where[0].filename).name}:{where[0].lineno})" if where else ""
    return Skip(f"unexpected_{name}", f"{type(e).__name__}: {str(e)[:300]}{at}")


class SkipCounter:
    """Counts skipped inputs per reason, keeps a few examples of each for the summary, and logs every one
    (`log`: [{"item", "reason", "detail"}], written beside the stage as its skip log)."""

    def __init__(self, keep_examples: int = 3):
        self.counts: collections.Counter[str] = collections.Counter()
        self.examples: dict[str, list[str]] = collections.defaultdict(list)
        self.log: list[dict[str, str]] = []
        self._keep = keep_examples

    def add(self, skip: Skip, what: str = ""):
        self.counts[skip.reason] += 1
        self.log.append({"item": what, "reason": skip.reason, "detail": skip.detail})
        if len(self.examples[skip.reason]) < self._keep:
            self.examples[skip.reason].append(f"{what}: {skip.detail}" if skip.detail else what)
        if skip.reason.startswith("unexpected_"):
            log.warning("skipped %s after an unexpected error: %s", what, skip.detail)
        else:
            log.debug("skipped %s (%s)", what, skip)

    def as_dict(self) -> dict[str, int]:
        return dict(sorted(self.counts.items()))

    def __len__(self) -> int:
        return sum(self.counts.values())
