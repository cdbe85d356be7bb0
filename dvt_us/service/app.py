"""The service assembled: database, instance store, job loop, DICOM node and HTTP API, started and stopped together.

``dvt-us serve`` runs :class:`Service` until SIGINT/SIGTERM. Embedded defaults: SQLite in the data folder
and local worker processes; ``jobs.scheduler`` (or ``--scheduler``) runs the same jobs on a Dask cluster.
The HTTP API (``http.enabled``, on by default) needs a bearer token (:func:`resolve_token`).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import ExitStack
from multiprocessing import get_context
from pathlib import Path
from types import TracebackType
from typing import Self

from dvt_us.service.config import ServiceConfig
from dvt_us.service.db import Database
from dvt_us.service.dicom_node import DicomNode, NodeState
from dvt_us.service.finalise import Finaliser
from dvt_us.service.http_api import ComponentStatus, Intake, create_app
from dvt_us.service.http_server import HttpServer, resolve_token
from dvt_us.service.instance_store import InstanceStore
from dvt_us.service.instances import StoredInstance
from dvt_us.service.jobs import JobRunner, load_models, models_key, utc_now
from dvt_us.service.recovery import host_worker_prefix, reconcile_instances, recover_jobs, worker_name
from dvt_us.service.review.store import ReviewStore
from dvt_us.service.worker_process import watch_parent
from dvt_us.service.workspace import WorkspaceSources, create_workspace_app

log = logging.getLogger(__name__)


def make_executor(config: ServiceConfig, stack: ExitStack) -> tuple[Executor, int]:
    """(executor, how many jobs at once): a Dask cluster's when a scheduler is set, else local processes."""
    if config.jobs.scheduler:
        from distributed import Client  # noqa: PLC0415 (Dask is only loaded when a cluster is used)

        client = stack.enter_context(Client(config.jobs.scheduler, set_as_default=False))  # type: ignore[no-untyped-call]
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        return client.get_executor(pure=False), workers
    # spawn, not fork: the parent runs the DICOM node's and the database's threads.
    # Each worker exits when the service dies, even by kill -9 (worker_process.watch_parent).
    pool = stack.enter_context(ProcessPoolExecutor(max_workers=config.jobs.workers, mp_context=get_context("spawn"),
                                                   initializer=watch_parent, initargs=(os.getpid(),)))
    return pool, config.jobs.workers


def recorder(db: Database) -> Callable[[StoredInstance], None]:
    """The node's hand-on: record the instance (its study's idle clock restarts); nothing heavier."""

    def record(instance: StoredInstance) -> None:
        db.record_instance(instance)

    return record


WORKSPACE_PREFIX = "/workspace"
"""Where the reader workspace is served (session login, not the API's bearer token)."""


def _report_folder(db: Database) -> Callable[[int], Path | None]:
    """Report id → its visit folder (the workspace's visit resolver)."""

    def folder(report_id: int) -> Path | None:
        report = db.report(report_id)
        return report.folder if report is not None else None

    return folder


class Service:
    """Everything ``dvt-us serve`` starts; a context manager (``with Service(config) as service: ...``)."""

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self._stack = ExitStack()
        self._stop = threading.Event()
        self._loop: threading.Thread | None = None
        self.db: Database | None = None
        self.node: DicomNode | None = None
        self.runner: JobRunner | None = None
        self.http: HttpServer | None = None
        self.review: ReviewStore | None = None
        self.finaliser: Finaliser | None = None

    @property
    def http_port(self) -> int:
        """The port the HTTP API listens on; RuntimeError when it is not started (or ``http.enabled`` is off)."""
        if self.http is None:
            raise RuntimeError("the HTTP API is not running (not started, or http.enabled is false)")
        return self.http.port

    def status(self) -> ComponentStatus:
        """The state of the DICOM node and the job loop, for ``GET /health``."""
        return {
            "dicom_node": (self.node.state if self.node is not None else NodeState.CREATED).value,
            "job_loop": "running" if self._loop is not None and self._loop.is_alive() else "stopped",
            "jobs_running": self.runner.running if self.runner is not None else 0,
        }

    def start(self) -> None:
        """Migrate the database, open the store, start the job loop, the DICOM node and then the HTTP API.

        The API token is resolved first, so that a missing one fails before anything starts. If a part
        fails to start, the parts started before it are stopped again and the error is raised.
        """
        config = self.config
        token = resolve_token(config.http) if config.http.enabled else None
        try:
            self._start(token)
        except BaseException:
            self.stop()
            raise

    def _start(self, token: str | None) -> None:
        config = self.config
        config.data_dir.mkdir(parents=True, exist_ok=True)
        db = self.db = self._stack.enter_context(Database(config.resolved_database_url,
                                                          max_attempts=config.jobs.max_attempts))
        db.upgrade()
        store = InstanceStore(config.data_dir)
        reconcile_instances(store, db, utc_now())  # on disk (acknowledged) but not recorded: a crash in between
        recover_jobs(db, host_worker_prefix(), utc_now())  # running under a dead process of this host
        executor, capacity = make_executor(config, self._stack)
        key = models_key(load_models(config.models_dir))
        worker = worker_name()
        self.review = ReviewStore(db, config.review)
        self.finaliser = Finaliser(config, self.review, utc_now)
        self._stack.callback(self.finaliser.close)
        self.finaliser.resume()  # final studies whose final outputs a stop interrupted
        self.runner = JobRunner(config, db, executor, worker=worker, key=key, capacity=capacity, review=self.review)
        self._loop = threading.Thread(target=self.runner.run, args=(self._stop,), name="dvt-us-jobs", daemon=True)
        self._loop.start()
        on_stored = recorder(db)  # one hand-on for C-STORE and STOW-RS: both record the same way
        self.node = DicomNode(config.dicom, store, on_stored=on_stored)
        port = self.node.start()
        if token is not None:
            workspace = create_workspace_app(WorkspaceSources(config.data_dir, db.instance_path, _report_folder(db)),
                                             self.review, on_final=self.finaliser.submit,
                                             secure_cookies=config.http.secure_cookies)
            api = create_app(db, config, token=token, status=self.status, intake=Intake(store, on_stored),
                             max_stow_bytes=config.http.max_stow_bytes, mounts={WORKSPACE_PREFIX: workspace})
            self.http = HttpServer(api, config.http.host, config.http.port)
            self.http.start()
        log.info("dvt-us serving: DICOM %s on %s:%d, HTTP %s, data %s, models %s", config.dicom.ae_title,
                 config.dicom.host, port,
                 f"{config.http.host}:{self.http.port}" if self.http is not None else "off", config.data_dir, key)

    def stop(self) -> None:
        """Stop the HTTP API, then taking instances, then the job loop; close the executor and the database."""
        if self.http is not None:
            self.http.stop()
        if self.node is not None:
            self.node.stop()
        self._stop.set()
        if self._loop is not None:
            self._loop.join(timeout=60)
        self._stack.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
