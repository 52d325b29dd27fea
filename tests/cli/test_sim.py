"""``kana-async sim``: what a user sees when it cannot start."""

from __future__ import annotations

import socket

import pytest

from kana_async import cli


def test_a_busy_port_is_one_line_naming_the_port(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        if port > 65532:
            pytest.skip("the ephemeral port leaves no room for --port")
        status = cli.main(["sim", "--port", str(port), "--step-interval", "0"])
    err = capsys.readouterr().err
    assert status == 1
    assert err.count("\n") == 1, err
    assert err.startswith(f"kana-async: error: cannot serve the simulator on 127.0.0.1 port "
                          f"{port} ")
    assert "address already in use" in err


@pytest.mark.parametrize("command", [["sim", "--port"], ["markets", "--local-port"]])
def test_the_port_leaves_room_for_the_four_servers(
    capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    with pytest.raises(SystemExit):
        cli.main([*command, "65533"])
    assert "N to N+3" in capsys.readouterr().err
