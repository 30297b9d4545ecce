"""The object store: image bytes kept once, named by their SHA-256.

    store = ObjectStore.open(workspace.object_store)   # a folder, or any fsspec URL
    digest = store.put_file("images/a.png")             # stored once, whatever its name
    local = store.local_path(digest)                     # a readable file on this machine

A local folder by default (``<workspace>/objects``); any fsspec URL (``s3://bucket/x``,
``gs://...``, ``memory://`` in tests) for a store a team shares. Objects of a remote
store are copied into a local cache on first read, so training reads local files.
An object is written under a temporary name and renamed into place: a process killed
mid-write leaves no object with the wrong bytes under a digest's name.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import fsspec

from yolops.errors import ConfigError, YolopsError

CHUNK = 1 << 20


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, hex."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _key(digest: str, suffix: str) -> str:
    """``ab/abcdef....png``: the suffix stays, so a file read from the store (or copied
    out of it) is still recognised as the image type it is."""
    return f"{digest[:2]}/{digest}{suffix.lower()}"


@dataclass(frozen=True)
class ObjectStore:
    """Content-addressed bytes under ``url``; ``cache`` is where a remote store's
    objects are copied to be read (None for a local folder, read in place)."""

    url: str
    cache: Path | None = None

    @classmethod
    def open(cls, url: str | Path, cache: Path | None = None) -> ObjectStore:
        text = str(url)
        if "://" not in text or text.startswith("file://"):
            return cls(str(Path(text.removeprefix("file://")).expanduser().absolute()))
        protocol = text.split("://", 1)[0]
        try:
            fsspec.get_filesystem_class(protocol)
        except (ImportError, ValueError) as e:
            raise ConfigError(f"object store {text!r}: {e}") from None
        if cache is None:
            raise ConfigError(f"object store {text!r} is remote and needs a local cache folder")
        return cls(text.rstrip("/"), cache)

    @property
    def local(self) -> bool:
        return self.cache is None

    # -- writing ---------------------------------------------------------------------------

    def put_file(self, path: Path, digest: str) -> bool:
        """Store the bytes of ``path`` (SHA-256 ``digest``) under their digest, once;
        True when they were new to the store."""
        path = Path(path)
        key = _key(digest, path.suffix)
        if self.local:
            target = Path(self.url) / key
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".put-")
                os.close(fd)
                try:
                    shutil.copyfile(path, tmp)
                    os.replace(tmp, target)
                finally:
                    if os.path.exists(tmp):
                        os.unlink(tmp)
                return True
            return False
        fs, root = fsspec.core.url_to_fs(self.url)
        target = f"{root}/{key}"
        if not fs.exists(target):
            tmp = f"{target}.part-{os.getpid()}"
            fs.put_file(str(path), tmp)
            fs.mv(tmp, target)
            return True
        return False

    # -- reading ---------------------------------------------------------------------------

    def has(self, digest: str, suffix: str) -> bool:
        if self.local:
            return (Path(self.url) / _key(digest, suffix)).is_file()
        fs, root = fsspec.core.url_to_fs(self.url)
        return fs.exists(f"{root}/{_key(digest, suffix)}")

    def path_in_store(self, digest: str, suffix: str) -> Path:
        """Where a folder store keeps an object (without checking it is there): what
        a version's records point at, so loading one costs no file system calls."""
        assert self.local
        return Path(self.url) / _key(digest, suffix)

    def local_path(self, digest: str, suffix: str) -> Path:
        """A file on this machine holding the object: in place for a folder store,
        from the cache (filled on first use) for a remote one."""
        key = _key(digest, suffix)
        if self.local:
            path = Path(self.url) / key
            if not path.is_file():
                raise YolopsError(f"object {digest[:12]} is missing from the store {self.url}")
            return path
        assert self.cache is not None
        path = self.cache / key
        if not path.is_file():
            fs, root = fsspec.core.url_to_fs(self.url)
            source = f"{root}/{key}"
            if not fs.exists(source):
                raise YolopsError(f"object {digest[:12]} is missing from the store {self.url}")
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.part-{os.getpid()}")
            fs.get_file(source, str(tmp))
            os.replace(tmp, path)
        return path
