"""The service: the ring of adapters around the pipeline (DICOM node, storage, jobs, workers, HTTP API).

Nothing in the core imports this package. ``dvt-us serve --config configs/service/default.yaml`` starts it
with embedded defaults (SQLite, local worker processes, a data folder); the same code runs with PostgreSQL
and a Dask cluster.
"""
