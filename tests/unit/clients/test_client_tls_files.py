"""TLS files and flags that cannot work are named, by the SDK and by the client commands,
instead of ending in a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from sluice_client import simulator
from sluice_client.channel import TlsOptions
from sluice_client.client import IngestClient
from sluice_client.errors import CertificateUnreadable
from sluice_client.replay.cli import main as replay


async def test_start_names_a_certificate_file_it_cannot_read(tmp_path: Path) -> None:
    missing = tmp_path / "ca.crt"
    client = IngestClient("127.0.0.1:1", tls=TlsOptions(ca_cert=missing))

    with pytest.raises(CertificateUnreadable, match=f"CA certificate {missing}"):
        await client.start(connect_timeout_s=0.5)


def test_a_command_given_a_missing_ca_says_which_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "access.log"
    log.write_text('127.0.0.1 - - [10/Oct/2024:13:55:36 +0000] "GET / HTTP/1.1" 200 1 "-" "x"\n')
    missing = tmp_path / "ca.crt"
    argv = ["access", str(log), "--target", "127.0.0.1:1", "--ca-cert", str(missing)]

    assert replay(argv) == 1

    err = capsys.readouterr().err
    assert f"cannot read the CA certificate {missing}: No such file or directory" in err
    assert "Traceback" not in err


def test_a_client_certificate_without_its_key_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--target", "127.0.0.1:1", "--duration", "1", "--client-cert", str(tmp_path / "c")]

    assert simulator.main(argv) == 2

    assert "--client-cert and --client-key go together" in capsys.readouterr().err
