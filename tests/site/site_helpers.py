"""Paths and helpers shared by the browser tests."""

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(sys.prefix)  # the virtual environment the tests run in (.venv)
SITE = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "artifacts" / "screenshots"


def book_pages() -> list[str]:
    """The book's own pages, as the site names them: the intro, then the table of contents in order."""
    from notebook_contract import toc_files

    return ["intro.html", *(f"{name}.html" for name in toc_files())]


def screenshot(page, name: str) -> None:
    """Save a screenshot of a page's first screen, or of an element, under artifacts/screenshots/.

    A whole chapter page would take seconds to capture, for a picture no test reads."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


@contextlib.contextmanager
def jupyter_server(frontend: str, root_dir: Path, start_timeout: float = 60.0):
    """Run `jupyter lab` or `jupyter notebook` (Notebook 7) on 127.0.0.1 with a token, as `make lab` does.

    Yields (base URL, token). The server runs in its own process group, with its own config,
    data, runtime, settings and workspace folders under `root_dir`'s parent, and is stopped
    (then killed, if it does not stop within 10 s) when the block ends, whatever happened in it.
    """
    home = root_dir.parent
    token = secrets.token_hex(16)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    environment = {
        key: value for key, value in os.environ.items() if key != "TRANSFORMER_BOOK_PROGRESS"
    }  # progress bars on, as in `make lab`
    environment.update(
        # as in `make lab`: the venv's kernel spec first, and the book's citations extension
        JUPYTER_PATH=os.pathsep.join([str(VENV / "share" / "jupyter"), str(ROOT / "tools" / "jupyter")]),
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
        IPYTHONDIR=str(home / "ipython"),
    )
    app = "LabApp" if frontend == "lab" else "JupyterNotebookApp"
    command = [
        str(VENV / "bin" / "jupyter"),
        frontend,
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root_dir}",
        f"--{app}.expose_app_in_browser=True",  # lets the test call the frontend's own commands
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")  # CI containers run as root
    if frontend == "lab":
        command += ["--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    log = open(home / f"{frontend}.log", "w")  # noqa: SIM115 (closed below)
    server = subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"jupyter {frontend} exited: {(home / f'{frontend}.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"jupyter {frontend} did not answer within {start_timeout:.0f} s")
            time.sleep(0.25)
        yield url, token
    finally:
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            if server.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, sig)  # the server and the kernels it started
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.wait(wait)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)  # a kernel left behind by a server that exited
        log.close()
