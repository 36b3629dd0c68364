"""Archived objects, found before anything is shared: restore them or refuse, never wait."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from django.conf import settings

from shares.resolve import ManifestEntry
from sharing_project.errors import ArchivedDataError, DataDefrostingError
from sharing_project.s3.archive import ARCHIVED, RESTORING, archive_state, request_restore


def refuse_archived(manifest: list[ManifestEntry], *, defrost: bool) -> None:
    """Raise when any object cannot be read now.

    With `defrost`, a restore is requested for each archived object not already being
    restored, and the error names every object with its restore state; without it, the
    error names the objects and says to set defrostArchivedFastqs.
    """
    archived = [entry.source_uri for entry in manifest if entry.archived]
    if not archived:
        return
    if not defrost:
        raise ArchivedDataError(
            f"{len(archived)} object(s) are archived and not restored, so they cannot be "
            "shared. Launch again with defrostArchivedFastqs: true to request their restore, "
            "then once more when the restore has finished (hours for GLACIER and DEEP_ARCHIVE).",
            {"objects": [{"sourceUri": uri} for uri in archived]},
        )
    with ThreadPoolExecutor(max_workers=8) as pool:
        states = list(pool.map(_restore, archived))
    raise DataDefrostingError(
        f"{len(archived)} archived object(s) are being restored (tier {settings.RESTORE_TIER}, "
        f"kept {settings.RESTORE_DAYS} days). Launch the share again once the restore has "
        "finished; this job does not wait for it.",
        {"objects": [{"sourceUri": uri, "restore": state} for uri, state in states]},
    )


def _restore(uri: str) -> tuple[str, str]:
    state = archive_state(uri)
    if state == ARCHIVED:
        request_restore(uri, days=settings.RESTORE_DAYS, tier=settings.RESTORE_TIER)
        return uri, "restore requested"
    if state == RESTORING:
        return uri, "restore already in progress"
    return uri, "restored"
