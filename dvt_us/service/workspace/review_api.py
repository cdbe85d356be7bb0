"""The JSON calls of the reading pages: edit a read, sign it, amend it, and fetch one's own read.

Each is one review-domain call with the session's user, so an edit, signature or amendment of another user's
read is refused by the domain (403), and what is sent back is only the caller's own read. A signature that
makes a study final with its final outputs due calls the workspace's ``on_final(study_id)`` hook once. The
study's state in an answer is what the caller may see (:mod:`~dvt_us.service.review.reader_view`): a reader
who signs learns ``read_submitted`` or ``final``, never ``discordant``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from dvt_us.service.review import reads, signing
from dvt_us.service.review.enum import ReviewState
from dvt_us.service.review.reader_view import shown_state
from dvt_us.service.review.reads import ClipEdit, FindingEdit
from dvt_us.service.review.records import Read
from dvt_us.service.workspace.auth import SessionDep
from dvt_us.service.workspace.context import WorkspaceDep
from dvt_us.service.workspace.errors import BadInputError

router = APIRouter(prefix="/api")
ReadId = Annotated[int, PathParam(ge=1)]
Reason = Annotated[str | None, Field(default=None, max_length=2000)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FindingEditIn(_In):
    """The reader's value of one field of one segment (JSON: a string, number, boolean or null)."""

    segment_key: str = Field(max_length=32)
    field: str = Field(max_length=64)
    value: Any
    reason: Reason


class ClipEditIn(_In):
    """Segment and side (``R``/``L``) of a clip the model left unassigned."""

    sop_instance_uid: str = Field(max_length=64)
    side: str = Field(max_length=16)
    segment: str = Field(max_length=16)
    reason: Reason


class EditsIn(_In):
    """One save of the findings form: applied all together or not at all."""

    findings: list[FindingEditIn] = Field(default_factory=list, max_length=500)
    clips: list[ClipEditIn] = Field(default_factory=list, max_length=200)


class SignIn(_In):
    """The signer's password, re-entered, and the meaning of the signature (default: the read's)."""

    password: str = Field(max_length=1000)
    meaning: str | None = Field(default=None, max_length=signing.MAX_MEANING_LENGTH)


class AmendIn(_In):
    """Why a signed read is changed."""

    reason: str = Field(max_length=2000)


class ReadOut(BaseModel):
    """One version of the caller's own read."""

    id: int
    study_id: int
    slot: str
    version: int
    signed_at: datetime | None
    change_reason: str | None
    content_sha256: str
    content: dict[str, Any]

    @classmethod
    def of(cls, read: Read) -> ReadOut:
        """The JSON of a read version."""
        return cls(id=read.id, study_id=read.study_id, slot=read.slot.value, version=read.version,
                   signed_at=read.signed_at, change_reason=read.change_reason, content_sha256=read.content_sha256,
                   content=read.content.to_json())


class SignOut(BaseModel):
    """A signature and where it left the study."""

    read_id: int
    study_id: int
    study_state: str
    """What the signer may see of the study's state (a reader's state for a reader)."""
    final: bool
    signature: dict[str, str]


@router.get("/reads/{read_id}")
def get_read(ws: WorkspaceDep, active: SessionDep, read_id: ReadId) -> ReadOut:
    """One version of the caller's own read (any read for an adjudicator)."""
    return ReadOut.of(reads.get_read(ws.store, active.user, read_id, ws.clock()))


@router.post("/reads/{read_id}/edits")
def edit_read(ws: WorkspaceDep, active: SessionDep, read_id: ReadId, body: EditsIn) -> ReadOut:
    """Apply one save of the findings form (422 for an invalid value or an override without a reason)."""
    edits: list[FindingEdit | ClipEdit] = [FindingEdit(e.segment_key, e.field, e.value, e.reason)
                                           for e in body.findings]
    edits += [ClipEdit(c.sop_instance_uid, c.side, c.segment, c.reason) for c in body.clips]
    return ReadOut.of(reads.edit_read(ws.store, active.user, read_id, edits, ws.clock()))


@router.post("/reads/{read_id}/sign")
def sign_read(ws: WorkspaceDep, active: SessionDep, read_id: ReadId, body: SignIn) -> SignOut:
    """Sign the read (401 for a wrong password); a study made final calls ``on_final`` once."""
    meaning = body.meaning.strip() if body.meaning else None
    if body.meaning is not None and not meaning:
        raise BadInputError("the meaning of a signature is empty")
    outcome = signing.sign_read(ws.store, active.user, read_id, body.password, ws.clock(), meaning=meaning)
    if outcome.final_outputs_due and ws.on_final is not None:
        ws.on_final(outcome.study.id)
    shown = shown_state(active.user, outcome.study.state, own_read_signed=True)
    return SignOut(read_id=read_id, study_id=outcome.study.id, study_state=shown.value,
                   final=outcome.standing.state is ReviewState.FINAL,
                   signature=outcome.signature.manifest())


@router.post("/reads/{read_id}/amend")
def amend_read(ws: WorkspaceDep, active: SessionDep, read_id: ReadId, body: AmendIn) -> ReadOut:
    """Version N+1 of the caller's signed read, with the reason for the change (sign it again)."""
    return ReadOut.of(reads.amend_read(ws.store, active.user, read_id, body.reason, ws.clock()))
