"""PULL (`GET /sync/snapshot`) and PUSH (`POST /sync/push`)."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Header, Response

from contracts.sync import PushRequest, PushResponse, SyncSnapshot
from oci_backend.deps import ConfigDep, NotifierDep, SnapshotDep, StoreDep
from oci_backend.errors import ApiError
from oci_backend.replan import replan_after_change

router = APIRouter(prefix="/sync", tags=["sync"])

_ETAG = re.compile(r'^(?:W/)?"?(\d{1,18})"?$')


def parse_if_match(value: str | None) -> int:
    """The revision named by an `If-Match` header (`"5"`, `5` or `W/"5"`)."""
    if value is None or not value.strip():
        raise ApiError(428, "PRECONDITION_REQUIRED",
                       "If-Match header required: send the revision you pulled, "
                       "e.g. If-Match: \"5\" (the ETag of GET /api/v1/sync/snapshot)",
                       field="If-Match")
    match = _ETAG.match(value.strip())
    if not match:
        raise ApiError(422, "VALIDATION_ERROR",
                       f"If-Match: {value!r} is not one revision; send the ETag of "
                       "GET /api/v1/sync/snapshot, e.g. \"5\"", field="If-Match")
    return int(match.group(1))


@router.get("/snapshot", response_model=SyncSnapshot)
def snapshot(snapshots: SnapshotDep) -> Response:
    """Revision, portfolio, settings, latest summary, current plan, recent tickets,
    emergency stop and audit tail; `ETag` is the revision to send back in `If-Match`."""
    # Pre-serialised JSON of validated files (see SnapshotReader), not re-validated here.
    revision, body = snapshots.snapshot_json()
    return Response(body, media_type="application/json",
                    headers={"ETag": f'"{revision}"', "Cache-Control": "no-store"})


@router.post("/push", response_model=PushResponse,
             responses={409: {"description": "stale If-Match"},
                        428: {"description": "If-Match missing"}})
def push(
    body: PushRequest, response: Response, store: StoreDep, config: ConfigDep,
    notifier: NotifierDep,
    if_match: Annotated[str | None, Header(alias="If-Match")] = None,
) -> PushResponse:
    """Replace portfolio and/or settings if `If-Match` is the current revision; re-plan when
    anything changed. The `X-KRX-Replan` header says why no re-plan happened, if none did."""
    expected = parse_if_match(if_match)
    outcome = store.push(expected, portfolio=body.portfolio, settings=body.settings,
                         reason=body.reason, actor=body.actor)
    replanned, plan_id = False, None
    if outcome.changed:
        replan = replan_after_change(store, config, notifier, actor=f"push:{body.actor}")
        replanned, plan_id = replan.replanned, replan.plan_id
        if not replan.replanned:
            # Header values are latin-1; the note may quote a path with other characters.
            response.headers["X-KRX-Replan"] = replan.note.encode("ascii", "replace").decode()
    else:
        response.headers["X-KRX-Replan"] = "nothing changed: revision not bumped, no re-plan"
    response.headers["ETag"] = f'"{outcome.revision}"'
    return PushResponse(revision=outcome.revision, changed=outcome.changed,
                        replanned=replanned, plan_id=plan_id)
