"""Backups of a stopped node's database: one tar file with a manifest of every file's SHA-256.

A backup is taken while nobody writes the database: the node must be stopped, and the backup
holds LevelDB's own lock file while it copies, so a node started meanwhile refuses to open the
database instead of changing files under the copy. A restore checks everything before it touches
the node home (the manifest, every file's size and hash, that the backup belongs to the home's
chain, that the restored database opens at the recorded head), builds the database beside the
old one and swaps it in with a rename, so an interrupted restore leaves the home as it was. A
restored node then catches up from its peers like any node that was stopped for a while.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import shutil
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from node.errors import StoreError
from node.store.chainstore import ChainStore

FORMAT = "consortia-node-backup"
VERSION = 1
ROOT = "consortia-backup"  # every member lives under this directory in the tar
MANIFEST = f"{ROOT}/manifest.json"
_CHUNK = 1 << 20
_MAX_MANIFEST_BYTES = 16 << 20


@dataclass(frozen=True)
class BackupFile:
    path: str  # relative to the data directory, e.g. "000005.ldb"
    bytes: int
    sha256: str


@dataclass(frozen=True)
class BackupManifest:
    format: str
    version: int
    chain_id: str
    genesis_hash: str
    height: int
    head_hash: str
    state_root: str
    created_ms: int
    files: tuple[BackupFile, ...]

    def to_json(self) -> dict[str, Any]:
        body = asdict(self)
        body["files"] = [asdict(f) for f in self.files]
        return body

    @classmethod
    def from_json(cls, raw: Any) -> BackupManifest:
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise StoreError(f"not a Consortia node backup (manifest format is not {FORMAT!r})")
        if raw.get("version") != VERSION:
            raise StoreError(f"backup format version {raw.get('version')!r} is not supported (this node reads {VERSION})")
        try:
            files = tuple(BackupFile(path=str(f["path"]), bytes=int(f["bytes"]), sha256=str(f["sha256"])) for f in raw["files"])
            return cls(format=FORMAT, version=VERSION, chain_id=str(raw["chain_id"]), genesis_hash=str(raw["genesis_hash"]),
                       height=int(raw["height"]), head_hash=str(raw["head_hash"]), state_root=str(raw["state_root"]),
                       created_ms=int(raw["created_ms"]), files=files)
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreError(f"backup manifest is malformed ({exc.__class__.__name__}: {exc})") from None


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@contextmanager
def _database_lock(data_dir: Path) -> Iterator[None]:
    """Hold LevelDB's LOCK file (the same POSIX record lock LevelDB takes) while files are copied or swapped."""
    lock_path = data_dir / "LOCK"
    if not lock_path.exists():
        yield
        return
    fd = os.open(lock_path, os.O_RDWR)
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise StoreError(f"database at {data_dir} is in use (is the node running? stop it first)") from None
        yield
    finally:
        os.close(fd)  # closing drops the lock


def _head_of(data_dir: Path) -> tuple[int, bytes, bytes, bytes]:
    """(height, head hash, state root, genesis hash) of a database, checking it opens cleanly."""
    store = ChainStore(data_dir, create=False)
    try:
        height = store.head_height
        header = store.get_header(height or 0)
        head_hash, genesis_hash = store.get_block_hash(height or 0), store.get_block_hash(0)
        if height is None or header is None or head_hash is None or genesis_hash is None:
            raise StoreError(f"database at {data_dir} has no committed head")
        return height, head_hash, header.state_root, genesis_hash
    finally:
        store.close()


def create_backup(data_dir: Path, chain_id: str, out: Path) -> BackupManifest:
    """Write a backup of the stopped node's database at ``data_dir`` to ``out`` (and ``out``.sha256)."""
    data_dir = Path(data_dir)
    height, head_hash, state_root, genesis_hash = _head_of(data_dir)
    partial = out.with_name(out.name + ".partial")
    with _database_lock(data_dir):
        names = sorted(p.name for p in data_dir.iterdir() if p.is_file() and p.name != "LOCK")
        files = tuple(BackupFile(path=name, bytes=(data_dir / name).stat().st_size, sha256=_sha256_of(data_dir / name))
                      for name in names)
        manifest = BackupManifest(format=FORMAT, version=VERSION, chain_id=chain_id, genesis_hash=genesis_hash.hex(),
                                  height=height, head_hash=head_hash.hex(), state_root=state_root.hex(),
                                  created_ms=int(time.time() * 1000), files=files)
        body = json.dumps(manifest.to_json(), indent=2).encode()
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
                info = tarfile.TarInfo(MANIFEST)
                info.size, info.mtime, info.mode = len(body), manifest.created_ms // 1000, 0o600
                tar.addfile(info, io.BytesIO(body))
                for f in files:
                    tar.add(data_dir / f.path, arcname=f"{ROOT}/data/{f.path}", recursive=False)
            with open(partial, "rb+") as fh:
                os.fsync(fh.fileno())
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise StoreError(f"cannot write backup {out}: {exc.strerror or exc}") from None
    os.replace(partial, out)
    out.with_name(out.name + ".sha256").write_text(f"{_sha256_of(out)}  {out.name}\n")
    return manifest


def read_manifest(backup: Path) -> BackupManifest:
    """The manifest of a backup file (its first member)."""
    try:
        with tarfile.open(backup, "r:") as tar:
            first = tar.next()
            if first is None or first.name != MANIFEST or not first.isfile() or first.size > _MAX_MANIFEST_BYTES:
                raise StoreError(f"{backup} is not a Consortia node backup (no {MANIFEST} first)")
            fh = tar.extractfile(first)
            assert fh is not None
            raw = json.loads(fh.read())
    except FileNotFoundError:
        raise StoreError(f"backup {backup} not found") from None
    except (tarfile.TarError, OSError, ValueError) as exc:
        raise StoreError(f"{backup} is not a readable backup ({exc.__class__.__name__}: {exc})") from None
    return BackupManifest.from_json(raw)


def _member_path(name: str) -> str:
    """The data-directory file a tar member may write, or an error for anything else."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or len(path.parts) != 3 or path.parts[:2] != (ROOT, "data"):
        raise StoreError(f"backup member {name!r} is outside {ROOT}/data/")
    return path.parts[2]


def _check_checksum_file(backup: Path) -> None:
    """If ``backup``.sha256 is beside it, the whole file must match it."""
    sidecar = backup.with_name(backup.name + ".sha256")
    if sidecar.exists():
        expected = sidecar.read_text().split()[0] if sidecar.read_text().split() else ""
        if expected != _sha256_of(backup):
            raise StoreError(f"{backup} does not match its checksum file {sidecar.name} (damaged or replaced)")


def restore_backup(backup: Path, data_dir: Path, *, genesis_hash: bytes, chain_id: str, force: bool = False) -> BackupManifest:
    """Replace the database at ``data_dir`` by the backup, after checking all of it; the old one is kept beside."""
    backup, data_dir = Path(backup), Path(data_dir)
    _check_checksum_file(backup)
    manifest = read_manifest(backup)
    if manifest.chain_id != chain_id or manifest.genesis_hash != genesis_hash.hex():
        raise StoreError(f"the backup is of chain {manifest.chain_id!r} (genesis {manifest.genesis_hash[:16]}…), "
                         f"not of this node's chain {chain_id!r} (genesis {genesis_hash.hex()[:16]}…)")
    if data_dir.exists() and any(data_dir.iterdir()) and not force:
        raise StoreError(f"{data_dir} already holds a database; use --force to replace it (it is kept as {data_dir.name}.before-restore-…)")
    expected = {f.path: f for f in manifest.files}
    staging = data_dir.with_name(data_dir.name + ".restoring")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        seen: set[str] = set()
        with tarfile.open(backup, "r:") as tar:
            for index, member in enumerate(tar):
                if index == 0:
                    continue  # the manifest, read above
                name = _member_path(member.name)
                entry = expected.get(name)
                if entry is None or not member.isfile() or name in seen:
                    raise StoreError(f"backup member {member.name!r} is not a file listed once in the manifest")
                seen.add(name)
                source = tar.extractfile(member)
                assert source is not None
                digest, size = hashlib.sha256(), 0
                with open(staging / name, "wb") as out:
                    while chunk := source.read(_CHUNK):
                        digest.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
                    out.flush()
                    os.fsync(out.fileno())
                if size != entry.bytes or digest.hexdigest() != entry.sha256:
                    raise StoreError(f"backup file {name} is damaged (size or SHA-256 differs from the manifest)")
        missing = sorted(set(expected) - seen)
        if missing:
            raise StoreError(f"backup is missing {len(missing)} file(s) listed in its manifest, e.g. {missing[0]}")
        height, head_hash, _, restored_genesis = _head_of(staging)
        if (height, head_hash.hex(), restored_genesis.hex()) != (manifest.height, manifest.head_hash, manifest.genesis_hash):
            raise StoreError("the restored database's head differs from the backup's manifest")
        if data_dir.exists():
            with _database_lock(data_dir):
                aside = data_dir.with_name(f"{data_dir.name}.before-restore-{int(time.time())}")
                os.replace(data_dir, aside)
        os.replace(staging, data_dir)
    except (tarfile.TarError, OSError) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise StoreError(f"cannot restore {backup}: {exc}") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest
