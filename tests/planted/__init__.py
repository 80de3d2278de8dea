"""A module a Redis writer might name in a job: importing it leaves a mark (tests/test_worker_contract_job.py
checks that the worker never imports it)."""

import os

IMPORTED_MARK = "SCENETAG_TEST_PLANTED_IMPORTED"
os.environ[IMPORTED_MARK] = "1"


def run(*args: object, **kwargs: object) -> None:
    os.environ[IMPORTED_MARK] = "called"


def callback(*args: object, **kwargs: object) -> None:
    os.environ[IMPORTED_MARK] = "called"
