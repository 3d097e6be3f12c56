"""All models, importable from one place (Alembic reads `Base.metadata` from here)."""

from app.models.base import Base
from app.models.catalog import Backend, ConfigVersion, Job, Task
from app.models.faces import FaceRequest
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
from app.models.unattended import Notification, Schedule, SubmissionContact
from app.models.workers import WorkerInfo

__all__ = [
    "STEP_DONE", "SUBMISSION_DONE", "ApiToken", "Attempt", "Backend", "Base", "Blob", "ConfigVersion", "FaceRequest",
    "Job", "Notification", "Result", "Schedule", "Step", "StepState", "Submission", "SubmissionContact",
    "SubmissionInput", "SubmissionState", "Task", "WorkerInfo",
]
