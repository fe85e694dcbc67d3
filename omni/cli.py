"""What every launcher does first: absl's flags marked parsed (our launchers parse their own arguments)."""
from __future__ import annotations


def absl_flags_parsed() -> None:
    """Marks absl's flags parsed, once. Grain worker processes and some libraries read absl flags, and absl
    refuses reads before parsing; the launchers take their arguments with argparse, so there is nothing to parse."""
    from absl import flags

    if not flags.FLAGS.is_parsed():
        flags.FLAGS.mark_as_parsed()
