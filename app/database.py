"""The app's database handle: one engine per app, one session per request."""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import libpq_url, make_engine, make_sessionmaker
from app.services.finished import FinishedListener


def init_app(app: Flask, settings: Settings) -> None:
    engine = make_engine(settings.database_url, plan_once=True)
    app.extensions["aa_engine"] = engine
    app.extensions["aa_sessions"] = make_sessionmaker(engine)
    app.extensions["aa_finished"] = FinishedListener(libpq_url(settings.database_url),
                                                       max_waiters=settings.max_waiters)
    app.teardown_appcontext(_close_session)


def finished_listener() -> FinishedListener:
    """This process's listener for ended submissions (its thread starts on first use)."""
    return current_app.extensions["aa_finished"]


def session() -> Session:
    """The request's session (opened on first use, closed at teardown)."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["aa_sessions"]()
    return g.db_session


def _close_session(_exc: BaseException | None) -> None:
    db_session = g.pop("db_session", None)
    if db_session is not None:
        db_session.close()
