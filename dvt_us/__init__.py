"""dvt-us: duplex-ultrasound analysis of deep vein thrombosis for clinical-trial core labs."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dvt-us")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"
