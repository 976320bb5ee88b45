"""Downloads of registry variants against a local server on 127.0.0.1 that answers the way the Hub does.

XY-Tokenizer's single-file variants, and a fake family registered at run time whose variants have
several files from two repositories (LFS files with a sha256, git-stored files with a git sha1),
a non-commercial licence, and a semantic encoder installed separately.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest

from xy_tokenizer import registry
from xy_tokenizer.codecs.spec import FamilySpec, HubFile, Variant
from xy_tokenizer.errors import Cancelled
from xy_tokenizer.hub import records
from xy_tokenizer.hub.download import (DownloadError, LicenceNotAccepted, default_info_path, download_variant,
                                       resolve_variant)
from xy_tokenizer.hub.records import installed_semantic_model, installed_variant
from xy_tokenizer.io import paths

COMMIT = "0123456789abcdef0123456789abcdef01234567"
RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<revision>[^/]+)/(?P<filename>[^?]+)$")
MODEL = registry.variant("16k").checkpoint_file
SEND_BLOCK = 1 << 16


def git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class HubState:
    """What the fake Hub serves and what it saw."""

    files: dict[str, bytes]                       # "repo/filename" -> content
    git_files: set[str] = field(default_factory=set)   # served like git-stored files: ETag = git sha1 only
    gated: set[str] = field(default_factory=set)        # repositories answering 401
    advertised_sha256: str | None = None          # overrides the true sha256 in X-Linked-Etag
    advertised: dict[str, str] = field(default_factory=dict)  # "repo/filename" -> ETag to send instead
    drop_first_get_at: int | None = None          # first GET closes after this many body bytes
    hang_up: bool = False                         # close every connection without an answer
    release_gets: threading.Event | None = None   # GET bodies wait until this is set
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)  # method, path, Range
    lock: threading.Lock = field(default_factory=threading.Lock)

    def gets(self) -> list[str]:
        return [r[1] for r in self.requests if r[0] == "GET"]


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
        if state.hang_up:
            self.close_connection = True
            return
        match = RESOLVE.match(self.path)
        key = f"{match['repo']}/{unquote(match['filename'])}" if match else ""
        if match and match["repo"] in state.gated:
            self.send_response(401)
            self.send_header("X-Error-Code", "GatedRepo")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = state.files.get(key)
        if data is None:
            self.send_response(404)
            self.send_header("X-Error-Code", "EntryNotFound")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
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
        if key in state.git_files:
            self.send_header("ETag", f'"{state.advertised.get(key) or git_sha1(data)}"')
        else:
            sha = state.advertised.get(key) or state.advertised_sha256 or hashlib.sha256(data).hexdigest()
            self.send_header("ETag", f'"{sha}"')
            self.send_header("X-Linked-Etag", f'"{sha}"')
            self.send_header("X-Linked-Size", str(len(data)))
        self.end_headers()
        if not send_body:
            return
        if state.release_gets is not None:
            state.release_gets.wait(10)
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
        if state.release_gets is not None:
            state.release_gets.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# -- a fake family with multi-file variants ----------------------------------------------

FAKE_FAMILY = "fakecodec"
CODEC_REPO = "fake-org/fake-codec"
SEMANTIC_REPO = "fake-org/fake-semantic"
NC_LICENCE = "cc-by-nc-4.0"


def safetensors_bytes(values: np.ndarray, key: str = "fake.codebook") -> bytes:
    from safetensors.numpy import save

    return save({key: np.ascontiguousarray(values, dtype=np.float32)})


#: What the fake Hub serves for the fake family (repo/filename -> bytes).
FAKE_FILES = {
    f"{CODEC_REPO}/model.safetensors": safetensors_bytes(np.arange(4 * 8)),
    f"{CODEC_REPO}/config.json": json.dumps({"model_type": "fakecodec", "levels": 1}).encode(),
    f"{SEMANTIC_REPO}/config.json": json.dumps({"model_type": "fake-semantic", "hidden": 16}).encode(),
    # larger than one download chunk, so progress is reported several times within it
    f"{SEMANTIC_REPO}/model.safetensors": safetensors_bytes(
        np.random.default_rng(1).standard_normal((1 << 20) * 3 // 2 + 7), key="encoder.weight"),
}
FAKE_GIT_FILES = {f"{CODEC_REPO}/config.json", f"{SEMANTIC_REPO}/config.json"}


def _hub_file(key: str, role: str, *, with_sha: bool = False) -> HubFile:
    repo, filename = key.rsplit("/", 1)
    data = FAKE_FILES[key]
    return HubFile(repo, filename, size=len(data), role=role,
                   sha256=hashlib.sha256(data).hexdigest() if with_sha else None)


CODEC_FILES = (_hub_file(f"{CODEC_REPO}/model.safetensors", "checkpoint"),
               _hub_file(f"{CODEC_REPO}/config.json", "config"))
SEMANTIC_FILES = (_hub_file(f"{SEMANTIC_REPO}/config.json", "semantic_model"),
                  _hub_file(f"{SEMANTIC_REPO}/model.safetensors", "semantic_model", with_sha=True))
_FAKE_COMMON = dict(family=FAKE_FAMILY, input_sample_rate=16000, output_sample_rate=24000, frame_rate=50.0,
                    num_quantizers=1, codebook_size=65536, hub_page=f"https://huggingface.co/{CODEC_REPO}")
FAKE_FULL = Variant(id="fake_full", label="Fake codec with its semantic encoder", aliases=("fake",),
                    files=CODEC_FILES + SEMANTIC_FILES, licence=NC_LICENCE,
                    licence_url="https://creativecommons.org/licenses/by-nc/4.0/", **_FAKE_COMMON)
FAKE_LITE = Variant(id="fake_lite", label="Fake codec, semantic encoder installed separately",
                    files=CODEC_FILES, licence="apache-2.0", **_FAKE_COMMON)
FAKE_SEMANTIC = Variant(id="fake_semantic", label="Fake semantic encoder", files=SEMANTIC_FILES,
                        licence="mit", **_FAKE_COMMON)


def fake_spec(*variants: Variant) -> FamilySpec:
    return FamilySpec(name=FAKE_FAMILY, label="Fake codec", loader=__name__,
                      variants=variants or (FAKE_FULL, FAKE_LITE, FAKE_SEMANTIC),
                      semantic_model_variant="fake_semantic")


def recognise(source):
    """The fake family's loader (this module): ``fake.codebook`` of 32 values is fake_lite."""
    codebook = source.state.get("fake.codebook")
    if codebook is None:
        return None
    return "fake_lite" if tuple(codebook.shape) == (32,) else f"{FAKE_FAMILY}-custom"


@pytest.fixture
def fake_family(hub):
    """The fake family registered, its files served by the fake Hub; removed afterwards."""
    registry.register_family(fake_spec())
    hub.files.update(FAKE_FILES)
    hub.git_files.update(FAKE_GIT_FILES)
    try:
        yield hub
    finally:
        registry.unregister_family(FAKE_FAMILY)


def installed_tree() -> list[str]:
    """Every file under the models folder, relative, as POSIX paths."""
    folder = paths.models_dir()
    if not folder.is_dir():
        return []
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def installed_files() -> list[str]:
    folder = paths.models_dir()
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def record_of(variant_id: str) -> dict:
    return json.loads((paths.models_dir() / variant_id / records.RECORD_NAME).read_text())


# -- XY-Tokenizer: one file per variant -------------------------------------------------

def test_download_installs_default_model(hub, checkpoint_bytes):
    calls = []
    path = download_variant("16k", progress=lambda done, total: calls.append((done, total)))

    assert path == paths.models_dir() / "xy_tokenizer_16k" / "xy_tokenizer.ckpt"
    assert path.read_bytes() == checkpoint_bytes
    assert paths.find_default_checkpoint() == path
    info = json.loads(default_info_path().read_text())
    sha = hashlib.sha256(checkpoint_bytes).hexdigest()
    assert info == {"format": 2, "path": "xy_tokenizer_16k/xy_tokenizer.ckpt", "install": "xy_tokenizer_16k",
                    "variant": "xy_tokenizer_16k", "family": "xy_tokenizer", "sha256": sha,
                    "licence": registry.variant("16k").licence}
    record = record_of("xy_tokenizer_16k")
    assert record["origin"] == "hub" and record["checkpoint"] == "xy_tokenizer.ckpt"
    assert record["semantic_model"] is None and record["endpoint"] == os.environ["HF_ENDPOINT"]
    assert record["files"] == [{"path": "xy_tokenizer.ckpt", "repo_id": "fdugyt/XY_Tokenizer",
                                "filename": "xy_tokenizer.ckpt", "revision": COMMIT, "role": "checkpoint",
                                "size": len(checkpoint_bytes), "sha256": sha, "verified_with": "Hub sha256"}]
    size = len(checkpoint_bytes)
    assert len(calls) >= 2 and calls[-1] == (size, size)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert installed_tree() == ["default.json", "xy_tokenizer_16k/xy_tokenizer.ckpt",
                                "xy_tokenizer_16k/xytok-install.json"]
    assert hub.gets() == [f"/fdugyt/XY_Tokenizer/resolve/{COMMIT}/xy_tokenizer.ckpt"]


def test_installed_variant_is_reused_unless_forced(hub):
    download_variant("16k", make_default=False)
    assert paths.find_default_checkpoint() is None
    requests_after_first = len(hub.requests)

    download_variant("xy_tokenizer_16k")  # reuse: no network, but now the default
    assert len(hub.requests) == requests_after_first
    assert paths.find_default_checkpoint() is not None

    download_variant("16k", force=True)
    assert len(hub.gets()) == 2


def test_checksum_mismatch_installs_nothing(hub):
    hub.advertised_sha256 = hashlib.sha256(b"another file").hexdigest()
    with pytest.raises(DownloadError, match="sha256") as caught:
        download_variant("16k")
    assert hub.advertised_sha256 in str(caught.value)
    assert installed_tree() == []


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
    assert "xytok install" in str(caught.value)
    assert hub.requests == []
    assert installed_tree() == []


def test_offline_mode_reuses_installed_model(hub, monkeypatch):
    first = download_variant("16k", make_default=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert download_variant("16k") == first
    assert paths.find_default_checkpoint() == first


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
    assert installed_tree() == []


def test_missing_file_on_server_is_a_download_error(hub):
    with pytest.raises(DownloadError, match="HTTP 404"):
        download_variant("24k")  # the fake Hub only has the 16k repository
    assert installed_tree() == []


def test_server_going_away_after_the_plan_is_a_network_error(hub):
    def hang_up(plan):
        hub.hang_up = True

    with pytest.raises(DownloadError, match="cannot download fdugyt/XY_Tokenizer/xy_tokenizer.ckpt") as caught:
        download_variant("16k", on_plan=hang_up)
    assert "writing into" not in str(caught.value) and "--checkpoint" in str(caught.value)
    assert installed_tree() == []


def test_explicit_endpoint_wins_over_environment(hub, monkeypatch):
    endpoint = os.environ["HF_ENDPOINT"]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    assert download_variant("16k", endpoint=endpoint + "/").is_file()


def test_cancel_midway_installs_nothing(hub, checkpoint_bytes):
    seen = []
    with pytest.raises(Cancelled):
        download_variant("16k", progress=lambda done, total: seen.append(done), cancel=lambda: bool(seen))
    assert 0 < seen[-1] < len(checkpoint_bytes)
    assert installed_tree() == []


def test_unknown_variant_lists_the_choices():
    with pytest.raises(DownloadError, match="16k, xy_tokenizer_ttsd_24k, 24k"):
        resolve_variant("48k")


def test_registry_names_the_released_xy_files():
    found = {v.aliases[0]: (v.id, v.checkpoint_file.repo_id, v.checkpoint_file.filename)
             for v in registry.variants(["xy_tokenizer"])}
    assert found == {
        "16k": ("xy_tokenizer_16k", "fdugyt/XY_Tokenizer", "xy_tokenizer.ckpt"),
        "24k": ("xy_tokenizer_ttsd_24k", "fnlp/XY_Tokenizer_TTSD_V0", "xy_tokenizer.ckpt"),
        "32k": ("moss_ttsd_32k", "OpenMOSS-Team/MOSS_TTSD_tokenizer", "MOSS_TTSD_tokenizer"),
        "24k-hf": ("xy_tokenizer_ttsd_24k_hf", "OpenMOSS-Team/XY_Tokenizer_TTSD_V0_hf", "pytorch_model.bin"),
    }


def _earlier_version_install(data: bytes, *, record_sha: str | None = None) -> Path:
    """What earlier versions left: models/<id>.ckpt + <id>.json, default.ckpt (a hard link) + default.json."""
    models = paths.models_dir()
    models.mkdir(parents=True)
    old = models / "xy_tokenizer_16k.ckpt"
    old.write_bytes(data)
    record = {"variant": "xy_tokenizer_16k", "repo_id": MODEL.repo_id, "filename": MODEL.filename,
              "revision": COMMIT, "endpoint": "https://huggingface.co",
              "sha256": record_sha or hashlib.sha256(data).hexdigest(), "size": len(data)}
    for name in ("xy_tokenizer_16k.json", "default.json"):
        (models / name).write_text(json.dumps(record))
    os.link(old, models / "default.ckpt")
    return old


def test_an_earlier_single_file_install_moves_into_the_new_layout_offline(monkeypatch):
    data = b"weights of an earlier download" * 100
    _earlier_version_install(data)
    assert paths.find_default_checkpoint() == paths.default_checkpoint()  # the old default still resolves
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    path = download_variant("16k")

    assert path == paths.models_dir() / "xy_tokenizer_16k" / "xy_tokenizer.ckpt" and path.read_bytes() == data
    assert paths.find_default_checkpoint() == path
    assert installed_tree() == ["default.json", "xy_tokenizer_16k/xy_tokenizer.ckpt",
                                "xy_tokenizer_16k/xytok-install.json"]
    entry = record_of("xy_tokenizer_16k")["files"][0]
    assert entry["sha256"] == hashlib.sha256(data).hexdigest() and entry["revision"] == COMMIT
    assert entry["verified_with"] == "sha256 recorded by an earlier download"


def test_an_earlier_install_that_fails_its_checksum_is_downloaded_again(hub, checkpoint_bytes):
    old = _earlier_version_install(b"damaged bytes", record_sha=hashlib.sha256(b"original bytes").hexdigest())
    path = download_variant("16k")
    assert path.read_bytes() == checkpoint_bytes and len(hub.gets()) == 1
    assert old.read_bytes() == b"damaged bytes"  # left alone, never installed


# -- multi-file variants (the fake family) ----------------------------------------------

def test_non_commercial_licence_must_be_accepted_before_any_request(fake_family):
    with pytest.raises(LicenceNotAccepted, match="cc-by-nc-4.0") as caught:
        download_variant("fake_full")
    assert "--accept-licence" in str(caught.value) and "creativecommons.org" in str(caught.value)
    assert fake_family.requests == [] and installed_tree() == []


def test_every_file_of_a_variant_is_fetched_verified_and_recorded(fake_family):
    progress, plans = [], []

    def on_plan(plan):
        plans.append((plan, len(fake_family.gets())))

    path = download_variant("fake", accept_licence=True, on_plan=on_plan,
                            progress=lambda done, total: progress.append((done, total)))

    folder = paths.models_dir() / "fake_full"
    assert path == folder / "model.safetensors"
    assert installed_tree() == ["default.json", "fake_full/config.json", "fake_full/fake-semantic/config.json",
                                "fake_full/fake-semantic/model.safetensors", "fake_full/model.safetensors",
                                "fake_full/xytok-install.json"]
    for hub_file in FAKE_FULL.files:
        dest = records.file_destination(FAKE_FULL, hub_file)
        assert (folder / dest).read_bytes() == FAKE_FILES[f"{hub_file.repo_id}/{hub_file.filename}"]
    record = record_of("fake_full")
    assert record["variant"] == "fake_full" and record["family"] == FAKE_FAMILY
    assert record["licence"] == NC_LICENCE and record["licence_url"].startswith("https://creativecommons.org/")
    assert record["checkpoint"] == "model.safetensors" and record["semantic_model"] == "fake-semantic"
    verified = {entry["path"]: (entry["role"], entry["verified_with"]) for entry in record["files"]}
    assert verified == {"model.safetensors": ("checkpoint", "Hub sha256"), "config.json": ("config", "Hub git sha1"),
                        "fake-semantic/config.json": ("semantic_model", "Hub git sha1"),
                        "fake-semantic/model.safetensors": ("semantic_model", "registry sha256")}
    assert all(entry["sha256"] == hashlib.sha256((folder / entry["path"]).read_bytes()).hexdigest()
               for entry in record["files"])

    (plan, gets_at_plan), = plans
    assert gets_at_plan == 0  # the plan comes before any byte is fetched
    total = sum(len(data) for data in FAKE_FILES.values())
    assert plan.download_bytes == total and {f.dest for f in plan.files} == set(verified)
    assert progress[-1] == (total, total) and all(t == total for _, t in progress)
    assert [done for done, _ in progress] == sorted(done for done, _ in progress)

    assert installed_semantic_model("fake_full") == folder / "fake-semantic"
    assert installed_semantic_model() == folder / "fake-semantic"  # the default model's
    assert installed_semantic_model("fake_full", checkpoint=path) == folder / "fake-semantic"
    assert installed_semantic_model("16k") is None


def test_a_failure_on_the_last_file_installs_nothing_and_keeps_the_default(fake_family):
    first = download_variant("16k")
    del fake_family.files[f"{SEMANTIC_REPO}/model.safetensors"]
    with pytest.raises(DownloadError, match="HTTP 404"):
        download_variant("fake_full", accept_licence=True)
    assert installed_tree() == ["default.json", "xy_tokenizer_16k/xy_tokenizer.ckpt",
                                "xy_tokenizer_16k/xytok-install.json"]
    assert paths.find_default_checkpoint() == first


def test_a_hub_file_other_than_the_registry_one_is_refused_before_fetching(fake_family):
    fake_family.advertised[f"{SEMANTIC_REPO}/model.safetensors"] = hashlib.sha256(b"retrained").hexdigest()
    with pytest.raises(DownloadError, match="registry") as caught:
        download_variant("fake_full", accept_licence=True)
    assert "not the released file" in str(caught.value)
    assert fake_family.gets() == [] and installed_tree() == []


def test_a_git_file_that_fails_its_git_sha1_is_refused(fake_family):
    fake_family.advertised[f"{CODEC_REPO}/config.json"] = git_sha1(b"{}")
    with pytest.raises(DownloadError, match="git sha1"):
        download_variant("fake_lite")
    # the dependency, complete on its own, stays; the variant that failed left nothing
    assert installed_tree() == ["fake_semantic/config.json", "fake_semantic/model.safetensors",
                                "fake_semantic/xytok-install.json"]


def test_a_separate_semantic_encoder_is_installed_first_and_found(fake_family):
    path = download_variant("fake_lite")

    lite, semantic = paths.models_dir() / "fake_lite", paths.models_dir() / "fake_semantic"
    assert path == lite / "model.safetensors" and paths.find_default_checkpoint() == path
    assert sorted(p.name for p in semantic.iterdir()) == ["config.json", "model.safetensors", "xytok-install.json"]
    assert record_of("fake_semantic")["semantic_model"] == "." and record_of("fake_semantic")["checkpoint"] is None
    assert record_of("fake_lite")["semantic_model"] is None
    assert installed_semantic_model("fake_lite") == semantic
    assert installed_semantic_model("fake_lite", checkpoint=path) == semantic
    assert json.loads(default_info_path().read_text())["variant"] == "fake_lite"
    gets = len(fake_family.gets())
    assert gets == 4
    download_variant("fake_lite", force=True)  # force fetches the variant, not its installed dependency
    assert len(fake_family.gets()) == gets + 2


def test_a_semantic_encoder_alone_is_never_the_default(fake_family):
    assert download_variant("fake_semantic") == paths.models_dir() / "fake_semantic"
    assert paths.find_default_checkpoint() is None and not default_info_path().exists()


def test_cancelled_reinstall_keeps_the_earlier_install(fake_family):
    download_variant("fake_full", accept_licence=True)
    before = {p: (paths.models_dir() / p).read_bytes() for p in installed_tree()}
    seen = []
    with pytest.raises(Cancelled):
        download_variant("fake_full", accept_licence=True, force=True,
                         progress=lambda done, total: seen.append(done), cancel=lambda: len(seen) > 1)
    assert {p: (paths.models_dir() / p).read_bytes() for p in installed_tree()} == before
    assert installed_variant("fake_full") is not None


def test_files_unchanged_since_an_earlier_install_are_not_fetched_again(fake_family):
    download_variant("fake_lite")
    gets = len(fake_family.gets())
    extra = f"{CODEC_REPO}/preprocessor_config.json"
    fake_family.files[extra] = b'{"sampling_rate": 16000}'
    fake_family.git_files.add(extra)
    grown = Variant(**{**FAKE_LITE.__dict__, "files": CODEC_FILES + (HubFile(CODEC_REPO, "preprocessor_config.json",
                                                                             role="config"),)})
    registry.register_family(fake_spec(FAKE_FULL, grown, FAKE_SEMANTIC))
    assert installed_variant("fake_lite") is None  # the registry names a file the install lacks

    download_variant("fake_lite")
    assert fake_family.gets()[gets:] == [f"/{extra.rsplit('/', 1)[0]}/resolve/{COMMIT}/preprocessor_config.json"]
    assert installed_variant("fake_lite") is not None


def test_gated_repository_says_how_to_get_the_files(fake_family):
    fake_family.gated.add(SEMANTIC_REPO)
    with pytest.raises(DownloadError, match="HTTP 401") as caught:
        download_variant("fake_full", accept_licence=True)
    assert "gated" in str(caught.value) and "xytok install" in str(caught.value)
    assert installed_tree() == []


def test_leftovers_of_a_killed_download_are_removed_and_a_replaced_install_restored(fake_family):
    download_variant("fake_lite")
    models = paths.models_dir()
    # a reinstall killed between moving the old install aside and moving the new one in
    area = models / ".partial-fake_lite-killed"
    area.mkdir()
    os.replace(models / "fake_lite", area / "replaced")
    (area / "target").write_text("fake_lite")
    (area / "work").mkdir()
    (area / "work" / "blob").write_bytes(b"partial")
    live = models / ".partial-other-live"
    live.mkdir()
    handle = records._try_lock(live / ".lock")  # held, as a running download holds it
    try:
        assert records.clean_stale_staging() == [area]
        assert installed_variant("fake_lite") is not None and not area.exists() and live.is_dir()
    finally:
        handle.close()
    assert records.clean_stale_staging() == [live]


def test_readme_tables_are_generated_from_the_registry():
    """The README's tables are registry.markdown_table() / markdown_files_table(); regenerate
    them with `xytok download --list --markdown` when the registry changes."""
    from tests.conftest import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for marker, table in (("variants", registry.markdown_table()), ("files", registry.markdown_files_table())):
        found = re.search(rf"<!-- {marker}-table:start -->\n(.*?)\n<!-- {marker}-table:end -->", readme, re.S)
        assert found, f"README.md has no {marker} table between its markers"
        assert found.group(1) == table, \
            "README.md's table differs from the registry: run `xytok download --list --markdown`"


# -- xytok download -----------------------------------------------------------------------

def run_cli(capsys, *argv) -> tuple[int, str, str]:
    from xy_tokenizer import cli

    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_list_shows_every_file_for_copying_by_hand(fake_family, capsys):
    code, out, err = run_cli(capsys, "download", "--list")
    assert code == 0 and err == "" and fake_family.requests == []
    for v in registry.variants():
        assert v.id in out
    semantic = SEMANTIC_FILES[1]
    assert f"sha256 {semantic.sha256}" in out
    assert f"{os.environ['HF_ENDPOINT']}/{SEMANTIC_REPO}/resolve/main/model.safetensors" in out  # the mirror
    assert "-> fake_full/fake-semantic/model.safetensors" in out and "-> fake_semantic/model.safetensors" in out
    assert "licence: cc-by-nc-4.0 (https://creativecommons.org/licenses/by-nc/4.0/); NON-COMMERCIAL" in out
    assert "also needs: fake_semantic" in out and "xytok install FOLDER" in out

    code, out, _ = run_cli(capsys, "download", "--list", "--json")
    facts = {v["id"]: v for v in json.loads(out)}
    assert facts["fake_lite"]["needs"] == ["fake_semantic"] and facts["fake_full"]["installed"] is None
    assert [f["install_path"] for f in facts["fake_full"]["files"]] == [
        "fake_full/model.safetensors", "fake_full/config.json", "fake_full/fake-semantic/config.json",
        "fake_full/fake-semantic/model.safetensors"]
    assert facts["fake_full"]["files"][3]["sha256"] == semantic.sha256
    assert facts["fake_full"]["files"][3]["size"] == len(FAKE_FILES[f"{SEMANTIC_REPO}/model.safetensors"])

    code, out, _ = run_cli(capsys, "download", "--list", "--markdown")
    assert out == registry.markdown_table() + "\n\n" + registry.markdown_files_table() + "\n"
    assert "| `fake_full` / `fake` | Fake codec |" in out


def test_cli_non_commercial_variant_needs_accept_licence(fake_family, capsys):
    code, out, err = run_cli(capsys, "download", "--variant", "fake_full")
    assert code == 2 and out == "" and fake_family.requests == []
    assert "licence: cc-by-nc-4.0" in err and "--accept-licence" in err and "Traceback" not in err
    assert installed_tree() == []


def test_cli_shows_licence_and_files_with_sizes_before_downloading(fake_family, capsys):
    code, out, err = run_cli(capsys, "download", "--variant", "fake_lite")
    assert code == 0, err
    assert out == f"{paths.models_dir() / 'fake_lite' / 'model.safetensors'}\n"
    lines = err.splitlines()
    assert lines[0] == "fake_lite: Fake codec, semantic encoder installed separately"
    assert lines[1].startswith("  fake_semantic: licence: mit (see https://huggingface.co/")
    assert lines[2].startswith("  fake_lite: licence: apache-2.0")
    assert lines[3] == f"4 file(s), {registry.format_size(sum(len(d) for d in FAKE_FILES.values()))} from " \
                       f"{os.environ['HF_ENDPOINT']}:"
    size = registry.format_size(len(FAKE_FILES[f"{SEMANTIC_REPO}/model.safetensors"]))
    assert f"  {SEMANTIC_REPO}/model.safetensors  {size}  -> fake_semantic/model.safetensors" in lines
    assert f"  {CODEC_REPO}/config.json  {registry.format_size(len(FAKE_FILES[f'{CODEC_REPO}/config.json']))}  " \
           "-> fake_lite/config.json" in lines

    code, out, err = run_cli(capsys, "download", "--variant", "fake_lite")  # again: nothing to fetch
    assert code == 0 and out.strip().endswith("model.safetensors")
    folder = paths.models_dir() / "fake_lite"
    assert err.splitlines()[-1] == f"already installed in {folder} (--force downloads it again)"


def test_cli_network_error_is_one_line_and_exit_1(monkeypatch, capsys):
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    code, out, err = run_cli(capsys, "download", "--variant", "24k")
    assert code == 1 and out == "" and "Traceback" not in err
    assert err.splitlines()[-1].startswith("xytok: cannot download fnlp/XY_Tokenizer_TTSD_V0/xy_tokenizer.ckpt")
