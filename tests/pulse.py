"""A private PulseAudio daemon with a null sink, for playback tests.

``pulse_server`` (session fixture) starts ``pulseaudio`` with its runtime, state and home
folders in a tmp dir, a null sink as the only output and an anonymous unix socket, points
``PULSE_SERVER`` at it and kills it at the end. When it cannot start, the tests using it
are skipped with the reason.

QtMultimedia looks for the sound server once per process, the first time anything asks
for audio devices: request this fixture before any test touches QtMultimedia, otherwise
Qt keeps reporting no device for the whole session.
"""
from __future__ import annotations

import os
import signal
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

SINK_NAME = "xytok_null"
START_TIMEOUT_S = 20


@dataclass
class PulseServer:
    """A running daemon: its socket address (for PULSE_SERVER) and environment."""

    address: str
    env: dict[str, str]

    def stop(self) -> None:
        """Stop the daemon whose pid file is in this server's runtime folder, and wait for it."""
        pid_file = Path(self.env["PULSE_RUNTIME_PATH"]) / "pid"
        try:
            pid = int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)


def start_pulse(folder: Path) -> PulseServer:
    """Start a daemon with a null sink in ``folder``; RuntimeError says why it could not."""
    if shutil.which("pulseaudio") is None:
        raise RuntimeError("pulseaudio is not installed (apt-get install pulseaudio)")
    runtime = folder / "runtime"
    runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
    socket = runtime / "native"
    env = dict(os.environ, HOME=str(folder), PULSE_RUNTIME_PATH=str(runtime),
               PULSE_STATE_PATH=str(folder / "state"), XDG_RUNTIME_DIR=str(runtime),
               XDG_CONFIG_HOME=str(folder / "config"))
    env.pop("PULSE_SERVER", None)
    command = ["pulseaudio", "--daemonize=yes", "--exit-idle-time=-1", "--system=false",
               "--disallow-exit", "-n", "--log-target=stderr",
               f"--load=module-null-sink sink_name={SINK_NAME}",
               f"--load=module-native-protocol-unix socket={socket} auth-anonymous=1"]
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True,
                              timeout=START_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"pulseaudio did not start within {START_TIMEOUT_S} s") from exc
    if done.returncode != 0 or not socket.exists():
        lines = [line for line in done.stderr.splitlines() if not line.startswith("W:")]
        raise RuntimeError(f"pulseaudio exited with {done.returncode}: " + " ".join(lines[-3:]))
    return PulseServer(address=f"unix:{socket}", env=env)


@pytest.fixture(scope="session")
def sound_server(tmp_path_factory):
    """Start a PulseAudio null sink for the whole session, or the reason it could not start.

    Used autouse from conftest: Qt looks for the sound server only once per process, so the
    server must be up before any test touches QtMultimedia. PULSE_SERVER points at it meanwhile.
    """
    try:
        server = start_pulse(tmp_path_factory.mktemp("pulse"))
    except RuntimeError as exc:
        yield str(exc)
        return
    previous = os.environ.get("PULSE_SERVER")
    os.environ["PULSE_SERVER"] = server.address
    yield server
    server.stop()
    if previous is None:
        os.environ.pop("PULSE_SERVER", None)
    else:
        os.environ["PULSE_SERVER"] = previous


@pytest.fixture(scope="session")
def pulse_server(sound_server):
    """The session's PulseAudio null sink; skips tests that need one where it cannot start."""
    if isinstance(sound_server, str):
        pytest.skip(f"no PulseAudio null sink: {sound_server}")
    return sound_server
