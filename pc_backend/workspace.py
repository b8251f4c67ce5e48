"""The PC workspace on disk (`KRX_PC_WORKSPACE`): the last PULLed snapshot, the operator's edits
until they are pushed, pending merge conflicts, the ticket draft and the local API token.

    <workspace>/pc_token               local API token (0600, created at first start)
    <workspace>/workspace.json         WorkspaceMeta: pull and push times (advisory)
    <workspace>/snapshot.json          the last pulled SyncSnapshot, as OCI sent it
    <workspace>/working/portfolio.json the edited Portfolio (absent = no edit)
    <workspace>/working/settings.json  the edited Settings (absent = no edit)
    <workspace>/conflicts.json         merge conflicts waiting for a pick (absent = none)
    <workspace>/draft.json             StoredDraft: ticket + idempotency key (absent = none)

Every write is atomic (temp file + rename); a request that fails validation writes nothing.
What OCI cannot give back — edits, conflicts, the draft and its key, the token — is written
durably (`krx_common.atomic.atomic_write_text`: file and directory fsynced). The pulled
snapshot has its content fsynced but not the rename, and the advisory times are not fsynced:
a crash can at worst bring back the previous snapshot, which the next pull replaces (a PULL
costs one fsync instead of four). One process owns a workspace at a time (`.lock`).
"""

from __future__ import annotations

import copy
import json
import logging
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from filelock import FileLock, Timeout
from pydantic import BaseModel, TypeAdapter, ValidationError

from contracts.common import now_kst
from contracts.pc import (
    Artifact,
    Conflict,
    ConflictChoice,
    Diff,
    DiffEntry,
    StoredDraft,
    WorkspaceMeta,
)
from contracts.portfolio import Portfolio
from contracts.settings import Settings
from contracts.sync import SyncSnapshot
from krx_common import docpath
from krx_common.atomic import atomic_write_text, dump_model, durable_unlink, first_error
from krx_common.tokens import token_problem
from pc_backend import merge

ARTIFACTS: tuple[Artifact, ...] = ("portfolio", "settings")
_MODELS: dict[str, type[BaseModel]] = {"portfolio": Portfolio, "settings": Settings}
_CONFLICTS = TypeAdapter(list[Conflict])

log = logging.getLogger("krx.pc")
T = TypeVar("T")

# The way out of a damaged file, by owner: PULL replaces what OCI gives back; the edits and the
# draft are the operator's, so only the operator discards them.
_FIX_SNAPSHOT = "pull again (POST /api/v1/pull, krx pc pull) to replace it"
_FIX_WORKING = ("restore it, or discard the local edits (DELETE /api/v1/workspace/edits); "
                "it is left as it is")
_FIX_DRAFT = "restore it, or discard the draft (DELETE /api/v1/tickets/draft)"


def _missing_fields(model_doc: Any, raw: Any, prefix: str = "") -> list[str]:
    """Paths present in `model_doc` (a model's full dump) but absent from `raw`."""
    out: list[str] = []
    if isinstance(model_doc, dict) and isinstance(raw, dict):
        for key, value in model_doc.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if key not in raw:
                out.append(path)
            else:
                out += _missing_fields(value, raw[key], path)
    elif isinstance(model_doc, list) and isinstance(raw, list) and len(model_doc) == len(raw):
        for i, (value, item) in enumerate(zip(model_doc, raw, strict=True)):
            out += _missing_fields(value, item, f"{prefix}[{i}]")
    return out



def _unless_missing(path: Path, fix: str, read: Callable[[Path], T]) -> T | None:
    """`read(path)`; None when the file does not exist; any other OS error makes the file
    `WorkspaceCorrupt`, naming it and the way out (`fix`)."""
    try:
        return read(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise WorkspaceCorrupt(f"{path}: cannot be read ({exc.strerror}); {fix}",
                               path=str(path)) from None


def _validated(path: Path, model: type[Any], raw: Any, fix: str) -> Any:
    """`raw` (the JSON of `path`) as `model`; invalid is `WorkspaceCorrupt` naming the field."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise WorkspaceCorrupt(f"{path}: {first_error(exc)}; {fix}", path=str(path)) from None

class WorkspaceError(Exception):
    """A workspace problem (`field` names the input at fault, `extra` adds details); its HTTP
    answer is `pc_backend.errors.ERROR_TABLE`'s."""

    def __init__(self, message: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.field = field
        self.extra = extra


class NotPulled(WorkspaceError):
    """Nothing pulled yet."""


class WorkspaceCorrupt(WorkspaceError):
    """A workspace file that cannot be read back."""


class WorkspaceBusy(WorkspaceError):
    """Another process owns the workspace."""


class NoDraft(WorkspaceError):
    """No ticket draft stored."""


class InvalidInput(WorkspaceError):
    """Input the workspace cannot take; `field` names it."""


class UnknownConflict(InvalidInput):
    """A conflict choice for a path that has no pending conflict."""


def ensure_token(path: Path) -> str:
    """The local API token at `path`, created (0600) on first use; a token file that is not
    UTF-8 or breaks the token rule (`krx_common.tokens`) is replaced, with a warning."""
    try:
        token = path.read_text(encoding="utf-8").strip()
        if os.name == "posix" and path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
        problem = token_problem(token)
        if problem is None:
            return token
        log.warning("the local API token in %s %s: a new one is written", path, problem)
    except FileNotFoundError:
        pass
    except UnicodeDecodeError:
        log.warning("the local API token in %s is not UTF-8 text: a new one is written", path)
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return token


class Workspace:
    """Reads and writes of one workspace directory; methods are thread-safe."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.RLock()
        self._file_lock: FileLock | None = None
        self._snapshot_cache: tuple[tuple[int, int, int], dict[str, Any]] | None = None

    # -- paths ---------------------------------------------------------------------------------
    @property
    def token_path(self) -> Path:
        return self.root / "pc_token"

    @property
    def meta_path(self) -> Path:
        return self.root / "workspace.json"

    @property
    def snapshot_path(self) -> Path:
        return self.root / "snapshot.json"

    def working_path(self, artifact: str) -> Path:
        return self.root / "working" / f"{artifact}.json"

    @property
    def conflicts_path(self) -> Path:
        return self.root / "conflicts.json"

    @property
    def draft_path(self) -> Path:
        return self.root / "draft.json"

    # -- life cycle ----------------------------------------------------------------------------
    def open(self) -> str:
        """Create the directory, take the owner lock and return the local API token."""
        self.root.mkdir(parents=True, exist_ok=True)
        if os.name == "posix":
            os.chmod(self.root, 0o700)
        lock = FileLock(str(self.root / ".lock"))
        try:
            lock.acquire(timeout=0.5)
        except Timeout:
            raise WorkspaceBusy(
                f"workspace {self.root} is in use by another PC backend; stop it first "
                "(krx pc stop) or use another KRX_PC_WORKSPACE") from None
        self._file_lock = lock
        return ensure_token(self.token_path)

    def close(self) -> None:
        if self._file_lock is not None:
            self._file_lock.release()
            self._file_lock = None

    @contextmanager
    def locked(self) -> Iterator[None]:
        with self._lock:
            yield

    # -- reading -------------------------------------------------------------------------------
    # Every file is validated against its model on read; a damaged one raises `WorkspaceCorrupt`
    # naming the file and the way out, and is never rewritten by a read (nor by PULL, except
    # the files PULL owns: snapshot.json and workspace.json, which OCI gives back).
    def _read_json(self, path: Path, fix: str) -> Any:
        """The parsed JSON at `path`, None when the file does not exist."""
        data = _unless_missing(path, fix, Path.read_bytes)
        if data is None:
            return None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise WorkspaceCorrupt(f"{path}: not UTF-8 text (saved as UTF-16 by an editor?); "
                                   f"{fix}", path=str(path)) from None
        try:
            return json.loads(text)
        except (ValueError, RecursionError) as exc:  # incl. an integer beyond the digit limit
            raise WorkspaceCorrupt(f"{path}: not valid JSON ({exc}); {fix}",
                                   path=str(path)) from None

    def _read_model(self, path: Path, model: type[Any], fix: str) -> Any:
        raw = self._read_json(path, fix)
        return None if raw is None else _validated(path, model, raw, fix)

    def _snapshot_doc(self) -> dict[str, Any] | None:
        """snapshot.json as JSON, validated as a `SyncSnapshot` (None when nothing was pulled);
        the validation is cached by the file's identity, size and mtime."""
        path = self.snapshot_path
        st = _unless_missing(path, _FIX_SNAPSHOT, Path.stat)
        if st is None:
            return None
        key = (st.st_ino, st.st_size, st.st_mtime_ns)
        cached = self._snapshot_cache
        if cached is not None and cached[0] == key:
            return cached[1]
        raw = self._read_json(path, _FIX_SNAPSHOT)
        if raw is None:
            return None
        _validated(path, SyncSnapshot, raw, _FIX_SNAPSHOT)
        self._snapshot_cache = (key, raw)
        return raw

    def _edited_doc(self, artifact: str) -> dict[str, Any] | None:
        """The working file of `artifact` as JSON (None when not edited). It must be a whole
        document of its model, as `put_working` writes it: a file of `{}`, `[]` or a scalar,
        or one missing fields, is damage, never an edit (it would merge as nulls)."""
        path = self.working_path(artifact)
        raw = self._read_json(path, _FIX_WORKING)
        if raw is None:
            return None
        if not isinstance(raw, dict):
            raise WorkspaceCorrupt(
                f"{path}: a JSON {type(raw).__name__} where a whole {artifact} object is "
                f"expected; {_FIX_WORKING}", path=str(path))
        try:
            parsed = _MODELS[artifact].model_validate(raw)
        except ValidationError as exc:
            raise WorkspaceCorrupt(f"{path}: {first_error(exc)}; {_FIX_WORKING}",
                                   path=str(path)) from None
        missing = _missing_fields(parsed.model_dump(mode="json"), raw)
        if missing:
            shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
            raise WorkspaceCorrupt(
                f"{path}: not a whole {artifact} (missing {shown}); {_FIX_WORKING}",
                path=str(path))
        return raw

    def meta(self) -> WorkspaceMeta:
        """Pull/push times (advisory); `pulled_revision` always comes from snapshot.json, the
        one durable record of what was pulled."""
        try:
            meta = self._read_model(self.meta_path, WorkspaceMeta, _FIX_SNAPSHOT) or WorkspaceMeta()
        except WorkspaceCorrupt:  # not fsynced: a crash may have emptied it; it is advisory
            meta = WorkspaceMeta()
        return meta.model_copy(update={"pulled_revision": self.pulled_revision()})

    def pulled_revision(self) -> int | None:
        doc = self._snapshot_doc()
        return None if doc is None else int(doc["revision"])

    def snapshot_bytes(self) -> bytes:
        """snapshot.json as OCI sent it (validated first)."""
        if self._snapshot_doc() is None:
            raise NotPulled("nothing pulled yet: POST /api/v1/pull (krx pc pull) first")
        try:
            return self.snapshot_path.read_bytes()
        except FileNotFoundError:
            raise NotPulled("nothing pulled yet: POST /api/v1/pull (krx pc pull) first") from None

    def snapshot(self) -> SyncSnapshot:
        doc = self._snapshot_doc()
        if doc is None:
            raise NotPulled("nothing pulled yet: POST /api/v1/pull (krx pc pull) first")
        return SyncSnapshot.model_validate(doc)

    def has_snapshot(self) -> bool:
        return self.snapshot_path.is_file()

    def base_doc(self, artifact: str) -> dict[str, Any]:
        """The pulled artifact as JSON (what OCI has at the pulled revision)."""
        doc = self._snapshot_doc()
        if doc is None:
            raise NotPulled("nothing pulled yet: POST /api/v1/pull (krx pc pull) first")
        return copy.deepcopy(doc[artifact])

    def working_doc(self, artifact: str) -> dict[str, Any]:
        """The working artifact as JSON: the edit, or the pulled base when not edited."""
        edited = self._edited_doc(artifact)
        return edited if edited is not None else self.base_doc(artifact)

    def working(self, artifact: str) -> BaseModel:
        return _MODELS[artifact].model_validate(self.working_doc(artifact))

    def is_edited(self, artifact: str) -> bool:
        return self.working_path(artifact).is_file()

    def conflicts(self) -> list[Conflict]:
        raw = self._read_json(self.conflicts_path, _FIX_WORKING)
        if raw is None:
            return []
        try:
            return _CONFLICTS.validate_python(raw)
        except ValidationError as exc:
            raise WorkspaceCorrupt(f"{self.conflicts_path}: {first_error(exc)}; {_FIX_WORKING}",
                                   path=str(self.conflicts_path)) from None

    def diff(self) -> Diff:
        """Field-level changes local vs pulled, and the pending conflicts."""
        with self._lock:
            if not self.has_snapshot():
                return Diff(base_revision=None)
            out: list[DiffEntry] = []
            for artifact in ARTIFACTS:
                if not self.is_edited(artifact):
                    continue
                for path, base, mine in merge.changes(self.base_doc(artifact),
                                                      self.working_doc(artifact)):
                    out.append(DiffEntry(artifact=artifact, path=path, base=base, mine=mine))
            return Diff(base_revision=self.meta().pulled_revision, changes=out,
                        conflicts=self.conflicts())

    def draft(self) -> StoredDraft | None:
        return self._read_model(self.draft_path, StoredDraft, _FIX_DRAFT)

    # -- writing -------------------------------------------------------------------------------
    def _write_json(self, path: Path, value: Any) -> None:
        atomic_write_text(path, json.dumps(value, indent=2, ensure_ascii=False) + "\n")

    def _write_conflicts(self, conflicts: list[Conflict]) -> None:
        if conflicts:
            atomic_write_text(self.conflicts_path,
                              _CONFLICTS.dump_json(conflicts, indent=2).decode("utf-8") + "\n")
        else:
            durable_unlink(self.conflicts_path)

    def put_working(self, artifact: str, model: BaseModel) -> BaseModel:
        """Store an edit (already validated); an edit equal to the base removes the edit."""
        with self._lock:
            base = self.base_doc(artifact)
            doc = model.model_dump(mode="json")
            # The stamps are OCI's: keep the pulled ones so they never show as an edit.
            doc.update({k: base[k] for k in docpath.VOLATILE if k in base})
            if not merge.changes(base, doc) and not self._conflicts_on(artifact):
                durable_unlink(self.working_path(artifact))
            else:
                self._write_json(self.working_path(artifact), doc)
            return _MODELS[artifact].model_validate(doc)

    def _conflicts_on(self, artifact: str) -> list[Conflict]:
        return [c for c in self.conflicts() if c.artifact == artifact]

    def discard_edits(self) -> None:
        with self._lock:
            for artifact in ARTIFACTS:
                durable_unlink(self.working_path(artifact))
            self._write_conflicts([])

    def store_pull(self, raw: bytes, oci_url: str) -> tuple[SyncSnapshot, bool, list[Conflict]]:
        """Make `raw` (a validated SyncSnapshot) the new base; local edits are rebased onto it.
        Returns (snapshot, rebased, conflicts)."""
        snap = SyncSnapshot.model_validate_json(raw)
        with self._lock:
            rebased = False
            conflicts: list[Conflict] = []
            merged: dict[str, dict[str, Any]] = {}
            new_docs = json.loads(raw)
            # Read everything first: a damaged file of the operator's (an edit, the conflicts)
            # stops the pull before anything is written.
            old_conflicts = self.conflicts()
            edited = {a: doc for a in ARTIFACTS if (doc := self._edited_doc(a)) is not None}
            bases: dict[str, dict[str, Any]] | None = None
            try:
                if self.has_snapshot():
                    bases = {a: self.base_doc(a) for a in edited}
            except WorkspaceCorrupt as exc:  # PULL owns the snapshot: it replaces it
                log.warning("PULL replaces a damaged snapshot: %s", exc)
            for artifact, mine in edited.items():
                theirs = copy.deepcopy(new_docs[artifact])
                rebased = True
                if bases is None:
                    # No readable base: the operator's changes cannot be told from OCI's, so
                    # every field where the edit differs from OCI's value is a conflict.
                    for path, theirs_v, mine_v in merge.changes(theirs, mine):
                        conflicts.append(Conflict(artifact=artifact, path=path, base=None,
                                                  mine=mine_v, theirs=theirs_v))
                    merged[artifact] = {**mine, **{k: theirs[k] for k in docpath.VOLATILE
                                                   if k in theirs}}
                    continue
                result = merge.three_way(bases[artifact], mine, theirs)
                fresh = {c.path for c in result.conflicts}
                for c in result.conflicts:
                    conflicts.append(Conflict(artifact=artifact, path=c.path, base=c.base,
                                              mine=c.mine, theirs=c.theirs))
                # Undecided conflicts of an earlier pull stay until the operator picks.
                for old in old_conflicts:
                    if old.artifact != artifact or old.path in fresh:
                        continue
                    now_theirs = docpath.get_at(theirs, old.path)
                    mine_v = docpath.get_at(result.merged, old.path)
                    if mine_v != now_theirs:
                        conflicts.append(old.model_copy(update={"theirs": now_theirs,
                                                                "mine": mine_v}))
                merged[artifact] = result.merged
            # Write order: the base last but one, so a crash before it leaves the old base with
            # edits computed against it (the next pull redoes the rebase).
            for name, doc in merged.items():
                if merge.changes(new_docs[name], doc) or any(c.artifact == name for c in conflicts):
                    self._write_json(self.working_path(name), doc)
                else:
                    durable_unlink(self.working_path(name))
            self._write_conflicts(conflicts)
            # The base: content fsynced, rename not — a crash may bring the previous snapshot
            # back, and the next pull rebases again (edits equal to OCI's values are no edit).
            # The edits above are fully durable: OCI cannot give them back.
            atomic_write_text(self.snapshot_path, raw.decode("utf-8"), sync_dir=False)
            self._snapshot_cache = None
            meta = self.meta().model_copy(update={
                "pulled_revision": snap.revision, "pulled_at": now_kst(), "oci_url": oci_url})
            # Advisory (times, URL): replaced atomically but not fsynced — a crash can only
            # lose a pull time; the pulled revision is snapshot.json's, which is durable.
            atomic_write_text(self.meta_path, dump_model(meta), sync_file=False, sync_dir=False)
            return snap, rebased, conflicts

    def resolve(self, choices: list[ConflictChoice]) -> Diff:
        """Apply the operator's pick for each named conflict; an unknown one writes nothing."""
        with self._lock:
            pending = self.conflicts()
            index = {(c.artifact, c.path): c for c in pending}
            for i, choice in enumerate(choices):
                if (choice.artifact, choice.path) not in index:
                    raise UnknownConflict(
                        f"choices.{i}.path: no pending conflict on {choice.artifact} "
                        f"{choice.path!r}; GET /api/v1/diff lists them", field=f"choices.{i}.path")
            docs = {a: self.working_doc(a) for a in ARTIFACTS if self.is_edited(a)}
            for choice in choices:
                c = index.pop((choice.artifact, choice.path))
                if choice.pick == "theirs":
                    docpath.set_at(docs[c.artifact], c.path, c.theirs)
            remaining = list(index.values())
            for artifact, doc in docs.items():
                _MODELS[artifact].model_validate(doc)  # a pick never makes an invalid artifact
            for artifact, doc in docs.items():
                if merge.changes(self.base_doc(artifact), doc) or any(
                        c.artifact == artifact for c in remaining):
                    self._write_json(self.working_path(artifact), doc)
                else:
                    durable_unlink(self.working_path(artifact))
            self._write_conflicts(remaining)
            return self.diff()

    def set_last_push(self, revision: int) -> None:
        with self._lock:
            meta = self.meta()
            atomic_write_text(self.meta_path, dump_model(meta.model_copy(update={
                "last_push_at": now_kst(), "last_push_revision": revision})),
                sync_file=False, sync_dir=False)

    def save_draft(self, draft: StoredDraft) -> None:
        with self._lock:
            atomic_write_text(self.draft_path, dump_model(draft))

    def discard_draft(self) -> bool:
        with self._lock:
            return durable_unlink(self.draft_path)

    def edit_count(self) -> int:
        return len(self.diff().changes)

