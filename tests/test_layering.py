"""The runtime package stays free of torch and MONAI even where they are installed."""

from __future__ import annotations

import subprocess
import sys


def test_runtime_imports_no_torch() -> None:
    code = (
        "import sys, dvt_us.cli.main, dvt_us.ingest, dvt_us.preprocess.model_input, "
        "dvt_us.preprocess.clip_features, dvt_us.phantom.trial_writer; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'monai')))"
    )
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert done.stdout.strip() == "[]"
