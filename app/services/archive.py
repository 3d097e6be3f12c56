"""Every result of a submission as one zip file."""

from __future__ import annotations

import tempfile
import zipfile
from typing import IO

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Result, Submission
from app.services import blobs

SPOOL_BYTES = 16 * 1024 * 1024  # larger archives go to a temporary file, not memory


def results_zip(session: Session, submission: Submission) -> IO[bytes]:
    """A zip of the submission's results (by their names; deflated), rewound, to be sent and closed."""
    results = session.execute(
        select(Result).where(Result.submission_id == submission.id).order_by(Result.id)).scalars()
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - the response closes it
    taken: set[str] = set()
    with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for result in results:
            # Results stored before names held their step's could share a name: keep both.
            name = result.name if result.name not in taken else f"{result.id}-{result.name}"
            taken.add(name)
            archive.writestr(name, blobs.get(session, result.sha256))
    spool.seek(0)
    return spool
