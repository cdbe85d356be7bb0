"""Model training for dvt-us (MONAI, torch): needs the `train` extra. Reuses dvt_us.ingest and preprocess."""
