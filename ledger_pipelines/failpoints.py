"""Named crash points for crash-safety tests (a no-op in normal operation).

``failpoint("ingest.before_commit")`` kills the current process with SIGKILL -- no cleanup, no
rollback message to the server, exactly like a power cut of the client -- when the environment
variable ``SUBLEDGER_FAILPOINT`` names that point. The crash tests start an ingester with it set,
then rerun without it and compare the ledger with an uninterrupted run.
"""

from __future__ import annotations

import os
import signal

ENV = "SUBLEDGER_FAILPOINT"


def failpoint(name: str) -> None:
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
