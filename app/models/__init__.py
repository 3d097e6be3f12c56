"""All models, importable from one place (Alembic reads `Base.metadata` from here)."""

from app.models.base import Base
from app.models.catalog import Backend, Job, Task
from app.models.submissions import (
    STEP_DONE,
    SUBMISSION_DONE,
    Attempt,
    Blob,
    Result,
    Step,
    StepState,
    Submission,
    SubmissionInput,
    SubmissionState,
)
from app.models.tokens import ApiToken
from app.models.workers import WorkerInfo

__all__ = [
    "STEP_DONE", "SUBMISSION_DONE", "ApiToken", "Attempt", "Backend", "Base", "Blob", "Job",
    "Result", "Step", "StepState", "Submission", "SubmissionInput", "SubmissionState", "Task", "WorkerInfo",
]
