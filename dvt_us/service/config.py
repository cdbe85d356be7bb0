"""The service configuration (``configs/service/*.yaml``), validated by pydantic; unknown keys are refused."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _ae_title(value: str) -> str:
    if not 1 <= len(value) <= 16 or not value.isascii() or "\\" in value or not value.strip():
        raise ValueError(f"AE title {value!r}: 1-16 ASCII characters, no backslash")
    return value.strip()


class RemoteAE(_Strict):
    """A DICOM peer: where results are sent (C-STORE SCP)."""

    ae_title: str
    host: str
    port: int = Field(ge=1, le=65535)

    _check_ae = field_validator("ae_title")(_ae_title)


class DicomNodeConfig(_Strict):
    """The C-STORE SCP that PACS routes studies to."""

    ae_title: str = "DVTUS"
    host: str = "127.0.0.1"
    port: int = Field(default=11112, ge=0, le=65535)
    """0 picks a free port (tests)."""
    allowed_calling_ae_titles: tuple[str, ...] = ()
    """Calling AE titles accepted; empty accepts any."""
    min_free_disk_mb: int = Field(default=2048, ge=0)
    """New associations are refused when the data folder has less free space than this."""
    max_pdu_bytes: int = Field(default=131072, ge=0)
    """Largest PDU the node receives (0: unlimited); 128 KiB is dcmtk's largest, and each PDU costs pynetdicom a
    turn of its event loop, so larger PDUs receive faster."""
    network_timeout_s: float = Field(default=60.0, gt=0)

    _check_ae = field_validator("ae_title")(_ae_title)

    @field_validator("allowed_calling_ae_titles")
    @classmethod
    def _check_allowed(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_ae_title(v) for v in values)


class JobsConfig(_Strict):
    """When a study is complete, and who runs its analysis."""

    study_idle_s: float = Field(default=30.0, ge=0)
    """A study is complete when no instance has arrived for this long; then a job is queued."""
    workers: int = Field(default=1, ge=1)
    """Local worker processes (ignored with a Dask scheduler)."""
    scheduler: str | None = None
    """``tcp://HOST:PORT`` of a Dask distributed scheduler; ``None`` runs jobs in local processes."""
    poll_s: float = Field(default=1.0, gt=0)
    stale_after_s: float = Field(default=600.0, gt=0)
    """A running job without a heartbeat for this long is taken to have died and is queued again."""
    max_attempts: int = Field(default=3, ge=1)


class HttpConfig(_Strict):
    """The HTTP API (health, studies, jobs, reports, metrics); every route needs the bearer token."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    """0 picks a free port (tests)."""
    token: str | None = None
    """The bearer token; prefer ``token_file`` (or the DVT_US_API_TOKEN environment variable) in production."""
    token_file: Path | None = None
    max_stow_bytes: int = Field(default=4 * 1024**3, ge=1)
    """The largest STOW-RS request body accepted (413 above it); 4 GiB by default."""
    secure_cookies: bool = False
    """Mark the reader workspace's session cookie Secure: set it when the service is reached over HTTPS."""


ReviewField = Literal["compressibility", "thrombus", "patency", "grade", "rvt", "residual_diameter_mm"]
"""The segment-finding fields a reader edits (``dvt_us.service.review.fields.FIELDS``)."""


class PasswordHashConfig(_Strict):
    """argon2id parameters; a login with a hash made under other parameters rehashes the password."""

    time_cost: int = Field(default=3, ge=1)
    memory_kib: int = Field(default=65536, ge=8)
    parallelism: int = Field(default=4, ge=1)


class ReviewConfig(_Strict):
    """Reader review: double reading, discordance rules, sessions and where final outputs go."""

    double_read: bool = True
    """Each study needs two independent reads; without, read 1 is final once signed."""
    must_agree: tuple[ReviewField, ...] = ("compressibility", "thrombus", "patency", "grade", "rvt",
                                           "residual_diameter_mm")
    """The fields on which read 1 and read 2 must agree; a disagreement sends the study to adjudication."""
    residual_diameter_tolerance_mm: float = Field(default=1.0, ge=0)
    """Two residual diameters this close (mm) agree."""
    session_max_age_s: float = Field(default=8 * 3600.0, gt=0)
    """A login session ends this long after login, however active."""
    session_idle_s: float = Field(default=1800.0, gt=0)
    """A login session ends after this long without a request."""
    min_password_length: int = Field(default=12, ge=8)
    password_hash: PasswordHashConfig = PasswordHashConfig()
    final_dir: Path | None = None
    """Where final visit folders are written; default ``<data_dir>/final``."""
    verifying_organization: str = Field(default="dvt-us core-lab review", min_length=1, max_length=64,
                                        pattern=r"^[^\\\x00-\x1f\x7f]*[^\\\x00-\x20\x7f][^\\\x00-\x1f\x7f]*$")
    """The core lab named as Verifying Organization in a final (signed) SR; a DICOM LO: 64 characters at most,
    no backslash (it would make two values) and no control character."""


class ServiceConfig(_Strict):
    """Everything ``dvt-us serve`` needs; every field has a default for the embedded setup."""

    data_dir: Path = Path("dvt-us-data")
    """Instances, quarantine, results and (by default) the SQLite database live here."""
    database_url: str | None = None
    """SQLAlchemy URL, e.g. ``postgresql+psycopg://user@127.0.0.1:5432/dvtus``; default SQLite in data_dir."""
    models_dir: Path | None = None
    """Folder of published models; default: the ``models/`` shipped with dvt-us."""
    trial_config: Path | None = None
    dicom: DicomNodeConfig = DicomNodeConfig()
    jobs: JobsConfig = JobsConfig()
    http: HttpConfig = HttpConfig()
    destinations: tuple[RemoteAE, ...] = ()
    """Where SR, SEG and encapsulated PDF are sent by C-STORE when a job is done."""
    review: ReviewConfig = ReviewConfig()

    @property
    def resolved_database_url(self) -> str:
        """The database URL, SQLite in the data folder when none is configured."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'dvt-us.db').resolve()}"

    @property
    def resolved_final_dir(self) -> Path:
        """Where final (reader-signed) visit folders go: ``review.final_dir``, else ``<data_dir>/final``."""
        return self.review.final_dir or self.data_dir / "final"


def load_service_config(path: Path) -> ServiceConfig:
    """Read and validate a service YAML; relative paths are relative to the file's folder."""
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: a service config is a mapping, got {type(raw).__name__}")
    config = ServiceConfig.model_validate(raw)
    base = path.resolve().parent

    def rebase(p: Path | None) -> Path | None:
        return p if p is None or p.is_absolute() else base / p

    return config.model_copy(update={"data_dir": rebase(config.data_dir), "models_dir": rebase(config.models_dir),
                                     "trial_config": rebase(config.trial_config),
                                     "review": config.review.model_copy(
                                         update={"final_dir": rebase(config.review.final_dir)})})
