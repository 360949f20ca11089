"""``python tests/crashy_cmops.py ARGS``: cmops, SIGKILLed at the worst moments.

``CRASH_AT=N`` and ``CRASH_MODE=before|after`` kill the process at the N-th platform call of
the run: ``before`` right after its intent was written and before the request goes out,
``after`` when the platform has accepted the part but before the receipt is written. This is
the real ``cmops`` (same code, same files); only the moment of death is chosen.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from cmops import publish
from cmops.cli import main

MODE = os.environ.get("CRASH_MODE", "")
AT = int(os.environ.get("CRASH_AT", "0"))
_calls = [0]
_original = publish.Engine._call


def _call(self: publish.Engine, *args: Any) -> Any:
    _calls[0] += 1
    if MODE == "before" and _calls[0] == AT:
        os.kill(os.getpid(), signal.SIGKILL)
    sent = _original(self, *args)
    if MODE == "after" and _calls[0] == AT:
        os.kill(os.getpid(), signal.SIGKILL)
    return sent


setattr(publish.Engine, "_call", _call)  # noqa: B010 - the point of this script

if __name__ == "__main__":
    main(sys.argv[1:])
