"""SIGTERM stops a long command like Ctrl-C: the same KeyboardInterrupt path (so cleanup
runs), one line, exit 143 (130 for SIGINT), and the previous handler back afterwards."""

from __future__ import annotations

import os
import signal
import time

import pytest
import typer

from genai_endpoints.commands.signals import (
    Terminated,
    exit_code,
    sigterm_as_interrupt,
    stops_cleanly,
)

LONG_COMMANDS = {"upload", "package", "generate", "tiny-model", "invoke", "compare", "rehearse"}


def test_sigterm_raises_a_keyboard_interrupt_and_the_handler_comes_back():
    before = signal.getsignal(signal.SIGTERM)
    cleaned = []
    with pytest.raises(Terminated), sigterm_as_interrupt():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        finally:
            cleaned.append(True)
    assert cleaned == [True] and signal.getsignal(signal.SIGTERM) is before
    assert isinstance(Terminated(), KeyboardInterrupt)
    assert exit_code(Terminated()) == 143 and exit_code(KeyboardInterrupt()) == 130


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_decorated_command_ends_in_one_line_and_128_plus_the_signal(sig, code, capsys):
    @stops_cleanly("stopped; cleaned up")
    def command() -> None:
        os.kill(os.getpid(), sig)
        time.sleep(5)

    with pytest.raises(typer.Exit) as exit_info:
        command()
    assert exit_info.value.exit_code == code
    assert capsys.readouterr().err.strip() == "error: stopped; cleaned up"


def test_every_long_command_stops_cleanly():
    from genai_endpoints.cli import app

    commands = {c.name: c.callback for c in app.registered_commands}
    groups = {g.name: g.typer_instance for g in app.registered_groups}
    commands["image build"] = next(
        c.callback for c in groups["image"].registered_commands if c.name == "build"
    )
    for name in LONG_COMMANDS | {"image build"}:
        assert getattr(commands[name], "stops_cleanly", False), name
