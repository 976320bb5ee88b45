"""download.py against a local server on 127.0.0.1 that answers the way the Hub does."""
from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

import pytest

from xy_tokenizer.io import paths
from xy_tokenizer.hub.download import (
    VARIANTS,
    DownloadError,
    default_info_path,
    download_variant,
    hub_model,
    install_checkpoint,
)
from xy_tokenizer.errors import Cancelled, CheckpointError

COMMIT = "0123456789abcdef0123456789abcdef01234567"
RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<revision>[^/]+)/(?P<filename>[^?]+)$")
MODEL = VARIANTS["16k"]
SEND_BLOCK = 1 << 16


@dataclass
class HubState:
    """What the fake Hub serves and what it saw."""

    files: dict[str, bytes]                       # "repo/filename" -> content
    advertised_sha256: str | None = None          # overrides the true sha256 in X-Linked-Etag
    drop_first_get_at: int | None = None          # first GET closes after this many body bytes
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)  # method, path, Range
    lock: threading.Lock = field(default_factory=threading.Lock)


class HubHandler(BaseHTTPRequestHandler):
    """HEAD/GET /{repo}/resolve/{revision}/{filename} with the Hub's headers and Range support."""

    timeout = 10  # a stalled client cannot hold a server thread for longer

    def log_message(self, format, *args):  # noqa: A002 - keep test output clean
        pass

    def do_HEAD(self):
        self._answer(send_body=False)

    def do_GET(self):
        self._answer(send_body=True)

    def _answer(self, send_body: bool) -> None:
        state: HubState = self.server.state
        with state.lock:
            state.requests.append((self.command, self.path, self.headers.get("Range")))
            first_get = send_body and sum(r[0] == "GET" for r in state.requests) == 1
        match = RESOLVE.match(self.path)
        data = state.files.get(f"{match['repo']}/{unquote(match['filename'])}") if match else None
        if data is None:
            self.send_response(404)
            self.send_header("X-Error-Code", "EntryNotFound")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        sha = state.advertised_sha256 or hashlib.sha256(data).hexdigest()
        start = 0
        wanted = self.headers.get("Range")
        if wanted:
            start = int(re.fullmatch(r"bytes=(\d+)-", wanted).group(1))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data) - start))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("ETag", f'"{sha}"')
        self.send_header("X-Linked-Etag", f'"{sha}"')
        self.send_header("X-Linked-Size", str(len(data)))
        self.end_headers()
        if not send_body:
            return
        end = len(data)
        if first_get and state.drop_first_get_at is not None:
            end = state.drop_first_get_at
        try:
            for offset in range(start, end, SEND_BLOCK):
                self.wfile.write(data[offset:min(offset + SEND_BLOCK, end)])
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away (cancel)
        self.close_connection = True


@pytest.fixture(scope="module")
def checkpoint_bytes(tmp_path_factory) -> bytes:
    """A real torch checkpoint large enough for several of huggingface_hub's download chunks."""
    import torch
    from huggingface_hub import constants

    n_floats = int(2.5 * constants.DOWNLOAD_CHUNK_SIZE) // 4
    path = tmp_path_factory.mktemp("hub") / "xy_tokenizer.ckpt"
    generator = torch.Generator().manual_seed(0)
    torch.save({"quantizer.codebook": torch.randn(n_floats, generator=generator)}, path)
    return path.read_bytes()


@pytest.fixture
def hub(checkpoint_bytes, monkeypatch):
    """A running fake Hub serving the 16k checkpoint; HF_ENDPOINT points to it."""
    state = HubState(files={f"{MODEL.repo_id}/{MODEL.filename}": checkpoint_bytes})
    server = ThreadingHTTPServer(("127.0.0.1", 0), HubHandler)
    server.daemon_threads = True
    server.state = state
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def installed_files() -> list[str]:
    folder = paths.models_dir()
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_download_installs_default_model(hub, checkpoint_bytes):
    calls = []
    path = download_variant("16k", progress=lambda done, total: calls.append((done, total)))

    assert path == paths.models_dir() / "xy_tokenizer_16k.ckpt"
    assert path.read_bytes() == checkpoint_bytes
    assert paths.find_default_checkpoint() == paths.default_checkpoint()
    assert paths.default_checkpoint().read_bytes() == checkpoint_bytes
    assert paths.default_checkpoint().samefile(path)  # a hard link: the weights are stored once
    info = json.loads(default_info_path().read_text())
    assert info["variant"] == "xy_tokenizer_16k"
    assert info["repo_id"] == "fdugyt/XY_Tokenizer"
    assert info["revision"] == COMMIT
    assert info["sha256"] == hashlib.sha256(checkpoint_bytes).hexdigest()
    size = len(checkpoint_bytes)
    assert len(calls) >= 2 and calls[-1] == (size, size)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert installed_files() == ["default.ckpt", "default.json", "xy_tokenizer_16k.ckpt",
                                 "xy_tokenizer_16k.json"]
    assert not any(paths.cache_dir().iterdir())  # the staging folder is gone
    get = [r for r in hub.requests if r[0] == "GET"]
    assert len(get) == 1 and get[0][1] == f"/fdugyt/XY_Tokenizer/resolve/{COMMIT}/xy_tokenizer.ckpt"


def test_installed_variant_is_reused_unless_forced(hub):
    download_variant("16k", make_default=False)
    assert paths.find_default_checkpoint() is None
    requests_after_first = len(hub.requests)

    download_variant("xy_tokenizer_16k")  # reuse: no network, but now the default
    assert len(hub.requests) == requests_after_first
    assert paths.find_default_checkpoint() is not None

    download_variant("16k", force=True)
    assert sum(r[0] == "GET" for r in hub.requests) == 2


def test_checksum_mismatch_installs_nothing(hub):
    hub.advertised_sha256 = hashlib.sha256(b"another file").hexdigest()
    with pytest.raises(DownloadError, match="sha256") as caught:
        download_variant("16k")
    assert hub.advertised_sha256 in str(caught.value)
    assert installed_files() == []
    assert not any(paths.cache_dir().iterdir())


def test_broken_connection_resumes_with_range(hub, checkpoint_bytes):
    """huggingface_hub resumes inside one call: it retries the GET with Range from what it has.

    It does not resume across calls (its partial file is per call and deleted on failure).
    """
    size = len(checkpoint_bytes)
    hub.drop_first_get_at = size // 2
    calls = []
    path = download_variant("16k", progress=lambda done, total: calls.append(done))

    assert path.read_bytes() == checkpoint_bytes
    ranges = [r[2] for r in hub.requests if r[0] == "GET"]
    assert len(ranges) == 2 and ranges[0] is None
    resumed_at = int(re.fullmatch(r"bytes=(\d+)-", ranges[1]).group(1))
    assert 0 < resumed_at <= size // 2
    assert calls[-1] == size


def test_offline_mode_without_model_says_how_to_proceed(hub, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DownloadError, match="HF_HUB_OFFLINE") as caught:
        download_variant("16k")
    assert "--checkpoint" in str(caught.value) and "HF_ENDPOINT" in str(caught.value)
    assert hub.requests == []
    assert installed_files() == []


def test_offline_mode_reuses_installed_model(hub, monkeypatch):
    first = download_variant("16k", make_default=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert download_variant("16k") == first
    assert paths.find_default_checkpoint() is not None


def closed_port() -> int:
    """A loopback port that was free a moment ago and has no listener."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_refused_connection_is_a_download_error(monkeypatch):
    port = closed_port()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    with pytest.raises(DownloadError, match=f"127.0.0.1:{port}") as caught:
        download_variant("16k")
    assert "--checkpoint" in str(caught.value)
    assert installed_files() == []


def test_missing_file_on_server_is_a_download_error(hub):
    with pytest.raises(DownloadError, match="HTTP 404"):
        download_variant("24k")  # the fake Hub only has the 16k repository
    assert installed_files() == []


def test_explicit_endpoint_wins_over_environment(hub, monkeypatch):
    endpoint = os.environ["HF_ENDPOINT"]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    assert download_variant("16k", endpoint=endpoint + "/").is_file()


def test_cancel_midway_installs_nothing(hub, checkpoint_bytes):
    seen = []
    with pytest.raises(Cancelled):
        download_variant("16k", progress=lambda done, total: seen.append(done),
                         cancel=lambda: bool(seen))
    assert 0 < seen[-1] < len(checkpoint_bytes)
    assert installed_files() == []
    assert not any(paths.cache_dir().iterdir())


def test_unknown_variant():
    with pytest.raises(DownloadError, match="16k, 24k, 32k"):
        hub_model("48k")


def test_variants_name_the_released_files():
    assert {name: (m.repo_id, m.filename, m.variant) for name, m in VARIANTS.items()} == {
        "16k": ("fdugyt/XY_Tokenizer", "xy_tokenizer.ckpt", "xy_tokenizer_16k"),
        "24k": ("fnlp/XY_Tokenizer_TTSD_V0", "xy_tokenizer.ckpt", "xy_tokenizer_ttsd_24k"),
        "32k": ("OpenMOSS-Team/MOSS_TTSD_tokenizer", "MOSS_TTSD_tokenizer", "moss_ttsd_32k"),
    }


def test_install_local_checkpoint_as_default(tiny16k_ckpt):
    installed = install_checkpoint(tiny16k_ckpt)
    sha = hashlib.sha256(tiny16k_ckpt.read_bytes()).hexdigest()
    assert installed == paths.models_dir() / f"model-{sha[:12]}.ckpt"
    assert installed.read_bytes() == tiny16k_ckpt.read_bytes()
    assert paths.default_checkpoint().read_bytes() == tiny16k_ckpt.read_bytes()
    info = json.loads(default_info_path().read_text())
    assert info["sha256"] == sha and info["source"] == str(tiny16k_ckpt.resolve())
    assert info["variant"] is None  # the tiny fixture matches no released variant
    assert install_checkpoint(tiny16k_ckpt, make_default=False) == installed


def test_install_safetensors_stores_a_torch_checkpoint(tiny16k_ckpt, tmp_path):
    import torch
    from safetensors.torch import save_file

    from xy_tokenizer.io.checkpoint import read_state_dict

    state = read_state_dict(tiny16k_ckpt)
    source = tmp_path / "weights.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(source))

    installed = install_checkpoint(source)
    assert installed.suffix == ".ckpt" and installed.parent == paths.models_dir()
    loaded = read_state_dict(paths.default_checkpoint())
    assert loaded.keys() == state.keys()
    assert all(torch.equal(loaded[k], state[k]) for k in state)
    info = json.loads(default_info_path().read_text())
    assert info["sha256"] == hashlib.sha256(paths.default_checkpoint().read_bytes()).hexdigest()
    assert not any(paths.cache_dir().iterdir())


def test_install_rejects_a_file_that_is_no_checkpoint(tmp_path):
    import torch

    bogus = tmp_path / "numbers.ckpt"
    torch.save([1, 2, 3], bogus)  # a torch file, but no state dict
    with pytest.raises(CheckpointError, match="numbers.ckpt"):
        install_checkpoint(bogus)
    text = tmp_path / "notes.ckpt"
    text.write_bytes(b"these are not weights")
    with pytest.raises(CheckpointError, match="notes.ckpt"):
        install_checkpoint(text)
    with pytest.raises(CheckpointError, match="missing.ckpt"):
        install_checkpoint(tmp_path / "missing.ckpt")
    assert installed_files() == []
