"""The whole arrow: ingest → preprocess → inference → findings → report, composed for `dvt-us analyze`."""
