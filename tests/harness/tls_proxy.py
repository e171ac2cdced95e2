"""nginx from Debian terminating TLS with a certificate made here, in front of the app: shared by
the reverse-proxy test and the production-shaped run (tests/harness/production.py)."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path


def stop_group(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """SIGTERM a process started with start_new_session=True and its children; SIGKILL late."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def certificate(directory: Path) -> Path:
    """A self-signed certificate for 127.0.0.1, which the clients trust and verify."""
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(directory / "key.pem"), "-out", str(directory / "cert.pem"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return directory / "cert.pem"


def nginx_conf(directory: Path, *, https_port: int, http_port: int, app_port: int) -> str:
    # Running as root, nginx's workers would drop to an account that cannot reach tmp_path.
    user = "user root;" if os.geteuid() == 0 else ""
    temp = " ".join(
        f"{kind}_temp_path {directory / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""
        {user}
        daemon off;
        worker_processes 1;
        pid {directory / "nginx.pid"};
        error_log {directory / "error.log"} warn;
        events {{ worker_connections 512; }}
        http {{
            access_log {directory / "access.log"};
            {temp}
            server {{
                listen 127.0.0.1:{https_port} ssl;
                listen 127.0.0.1:{http_port};
                ssl_certificate {directory / "cert.pem"};
                ssl_certificate_key {directory / "key.pem"};
                location / {{
                    proxy_pass http://127.0.0.1:{app_port};
                    proxy_set_header Host $http_host;
                    # The usual production lines: append the peer, say which scheme it used.
                    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
                    proxy_set_header X-Forwarded-Proto $scheme;
                }}
            }}
        }}
    """


def start_nginx(
    directory: Path, *, https_port: int, http_port: int, app_port: int
) -> subprocess.Popen[bytes]:
    conf = directory / "nginx.conf"
    conf.write_text(
        nginx_conf(directory, https_port=https_port, http_port=http_port, app_port=app_port)
    )
    return subprocess.Popen(
        ["nginx", "-p", str(directory), "-e", str(directory / "error.log"), "-c", str(conf)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
