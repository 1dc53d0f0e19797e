"""The data folder: database file, secret key, media, broker messages. No Django here.

``python -m annotator_web.datadir`` creates the folder and, once, the development secret key.
"""

from __future__ import annotations

import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DataDir:
    root: Path

    @classmethod
    def from_env(cls, base_dir: Path) -> DataDir:
        return cls(Path(os.environ.get("DATA_DIR") or base_dir / "data").resolve())

    @property
    def secret_key_file(self) -> Path:
        return self.root / "secret_key"

    @property
    def sqlite_file(self) -> Path:
        return self.root / "db.sqlite3"

    @property
    def media(self) -> Path:
        return self.root / "media"

    @property
    def static(self) -> Path:
        return self.root / "static"

    @property
    def broker(self) -> Path:
        return self.root / "broker"

    @property
    def upload_spool(self) -> Path:
        """Where the web server spools large uploads while it reads them (``UPLOAD_SPOOL_DIR``): files a killed
        server process left here are removed by the workers' sweep."""
        return self.root / "tmp" / "uploads"

    @property
    def pause_jobs_file(self) -> Path:
        """While this file exists, running jobs wait at their next progress report (for maintenance)."""
        return self.root / "pause-jobs"

    @property
    def admin_password_file(self) -> Path:
        return self.root / "admin_password"

    def read_secret_key(self) -> str:
        try:
            return self.secret_key_file.read_text().strip()
        except FileNotFoundError:
            return ""

    def ensure(self) -> None:
        """Create the folders and, if missing, a secret key readable by the owner only."""
        for path in (self.root, self.media, self.static, self.broker, self.upload_spool):
            path.mkdir(parents=True, exist_ok=True)
        if not self.read_secret_key():
            write_private(self.secret_key_file, secrets.token_urlsafe(50) + "\n")


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, atomically (a reader never sees half of it)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def main() -> int:
    data = DataDir.from_env(Path(__file__).resolve().parent.parent)
    data.ensure()
    print(f"data folder ready: {data.root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
