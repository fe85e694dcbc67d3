"""Bad-data bookkeeping: `Skip(reason)` rejects one input; `SkipCounter` tallies reasons for the summary."""
from __future__ import annotations

import collections
import logging

log = logging.getLogger(__name__)


class Skip(Exception):
    """One input is unusable; `reason` is a short snake_case key counted in the build summary."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail = reason, detail


class SkipCounter:
    """Counts skipped inputs per reason and keeps a few examples of each for the summary."""

    def __init__(self, keep_examples: int = 3):
        self.counts: collections.Counter[str] = collections.Counter()
        self.examples: dict[str, list[str]] = collections.defaultdict(list)
        self._keep = keep_examples

    def add(self, skip: Skip, what: str = ""):
        self.counts[skip.reason] += 1
        if len(self.examples[skip.reason]) < self._keep:
            self.examples[skip.reason].append(f"{what}: {skip.detail}" if skip.detail else what)
        log.debug("skipped %s (%s)", what, skip)

    def as_dict(self) -> dict[str, int]:
        return dict(sorted(self.counts.items()))

    def __len__(self) -> int:
        return sum(self.counts.values())
