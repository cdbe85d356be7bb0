"""Prometheus metrics of the service, read from the database at each scrape."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from dvt_us.service.db import Database, JobState

DURATION_BUCKETS_S = (10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0)
"""Upper bounds (seconds) of the ``dvt_us_job_duration_seconds`` histogram buckets."""


class DatabaseCollector:
    """Prometheus metrics read from the database at each scrape (so every service process reports the same).

    ``dvt_us_instances_received_total`` (instances recorded), ``dvt_us_studies``, ``dvt_us_jobs{state}``,
    ``dvt_us_reports`` and ``dvt_us_job_duration_seconds{state}`` (a histogram of finished and failed jobs,
    last attempt's start to finish).
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    def collect(self) -> Iterator[Metric]:
        """The metrics as they stand now."""
        studies, jobs = self._db.studies(), self._db.jobs()
        yield CounterMetricFamily("dvt_us_instances_received", "DICOM instances recorded (duplicates not counted)",
                                  value=sum(s.instance_count for s in studies))
        yield GaugeMetricFamily("dvt_us_studies", "Studies with at least one instance", value=len(studies))
        by_state = GaugeMetricFamily("dvt_us_jobs", "Jobs by state", labels=["state"])
        for state in JobState:
            by_state.add_metric([state.value], sum(j.state is state for j in jobs))
        yield by_state
        yield GaugeMetricFamily("dvt_us_reports", "Visit reports recorded", value=len(self._db.reports()))
        durations = HistogramMetricFamily("dvt_us_job_duration_seconds", "Job run time, last attempt",
                                          labels=["state"])
        for state in (JobState.DONE, JobState.FAILED):
            seconds = [(j.finished_at - j.started_at).total_seconds() for j in jobs
                       if j.state is state and j.started_at is not None and j.finished_at is not None]
            buckets = [(str(b), sum(s <= b for s in seconds)) for b in DURATION_BUCKETS_S]
            durations.add_metric([state.value], [*buckets, ("+Inf", len(seconds))], sum(seconds))
        yield durations
