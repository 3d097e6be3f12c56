"""The predecessor's intake in front of the Celery baseline: an HTTP view that stores the
submission's status row and sends its chain, as its Django view did. Served by gunicorn with the
same worker class, processes and threads as ours (bench.celery_chain.run_http starts it).

Configured from the environment: BENCH_REDIS_URL, BENCH_CELERY_QUEUE, BENCH_PG_DSN.
"""

from __future__ import annotations

import os
import threading

import psycopg
from celery import chain
from flask import Flask, jsonify, request

from bench import celery_app

app = Flask(__name__)
celery_app.app.conf.update(broker_url=os.environ["BENCH_REDIS_URL"],
                           task_default_queue=os.environ["BENCH_CELERY_QUEUE"])
_local = threading.local()


def _db() -> psycopg.Connection:
    """One connection per server thread."""
    connection = getattr(_local, "connection", None)
    if connection is None or connection.closed:
        connection = _local.connection = psycopg.connect(os.environ["BENCH_PG_DSN"], autocommit=True)
    return connection


@app.post("/submissions")
def submit():
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("name", ""), str):
        return jsonify(message="send a JSON object with a name"), 400
    row_id = _db().execute("INSERT INTO bench_status (name, state) VALUES (%s, 'Submitted') RETURNING id",
                           (body.get("name", ""),)).fetchone()[0]
    chain(celery_app.step1.si(row_id), celery_app.step2.si(row_id), celery_app.step3.si(row_id)).apply_async()
    return jsonify(id=row_id, state="Submitted"), 201


@app.get("/health")
def health():
    return jsonify(status="ok")
