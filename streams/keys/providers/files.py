"""Keys from files `<directory>/<region>.key`: a Kubernetes or Docker secret mount.

Like ssh with a private key, a key file that every user of the machine can read
is refused: whoever else runs there could pseudonymize guesses and reverse ours.
Group-readable files are allowed, since Kubernetes' `fsGroup` shares secrets that way.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path

from streams.keys.providers.key_text import KeyText, key_ring
from streams.keys.ring import Clock, KeyRing, utc_now

KEY_FILE_SUFFIX = ".key"
_MAX_KEY_FILE_BYTES = 64 * 1024  # a key text is a few hundred bytes; more is the wrong file


def key_file_path(directory: str | Path, region: str) -> Path:
    return Path(directory) / f"{region}{KEY_FILE_SUFFIX}"


def file_key_texts(regions: Sequence[str], directory: str | Path) -> tuple[list[KeyText], list[str]]:
    """Each region's key text, and a problem for every file missing, unsafe or unreadable."""
    if not Path(directory).is_dir():
        return [], [f"{directory}: the key directory does not exist"]
    texts: list[KeyText] = []
    problems: list[str] = []
    for region in regions:
        path = key_file_path(directory, region)
        text, problem = _read_key_file(path)
        if problem is not None:
            problems.append(f"{path}: {problem}")
        elif text is not None:
            texts.append(KeyText(region, str(path), text))
    return texts, problems


def _read_key_file(path: Path) -> tuple[str | None, str | None]:
    try:
        info = path.stat()  # follows symlinks: Kubernetes mounts <region>.key -> ..data/<region>.key
    except FileNotFoundError:
        return None, "the key file does not exist"
    except OSError as exc:
        return None, f"can't read the key file ({exc.strerror})"
    if not stat.S_ISREG(info.st_mode):
        return None, "is not a regular file"
    if info.st_mode & stat.S_IROTH:
        return None, (
            f"the key file is readable by every user (mode {stat.S_IMODE(info.st_mode):04o}); "
            "refusing to use it. Make it 0400 or 0440 "
            "(chmod o-rwx, or defaultMode: 0400 on the secret volume)"
        )
    try:
        with path.open("rb") as handle:
            raw = handle.read(_MAX_KEY_FILE_BYTES + 1)
    except OSError as exc:
        return None, f"can't read the key file ({exc.strerror})"
    if len(raw) > _MAX_KEY_FILE_BYTES:
        return None, f"the key file is larger than {_MAX_KEY_FILE_BYTES} bytes; is it the right file?"
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError:
        return None, "the key file is not UTF-8 text"


def any_key_file(regions: Sequence[str], directory: str | Path) -> bool:
    return any(os.path.lexists(key_file_path(directory, region)) for region in regions)


class FileKeyProvider:
    def __init__(self, directory: str | Path, *, clock: Clock = utc_now) -> None:
        self.directory = Path(directory)
        self.description = f"key files {self.directory}/<region>{KEY_FILE_SUFFIX}"
        self._clock = clock

    def load(self, regions: Sequence[str]) -> KeyRing:
        texts, problems = file_key_texts(regions, self.directory)
        return key_ring(texts, problems, clock=self._clock)
