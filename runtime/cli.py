"""The argument parser every command of the project uses: usage errors in one line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn


class OneLineParser(argparse.ArgumentParser):
    """argparse prints the whole usage block before a bad flag's message; a user needs the
    message and where to look."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def runtime_errors() -> tuple[type[BaseException], ...]:
    """What bad input or a missing set-up raises in the runtime (a source, an output, the
    detector, an engine, a card, a value, a file): each prints as one line, never a traceback.
    Imported here, on call, so the parser stays light."""
    from .backends import BackendError
    from .card import CardError
    from .detection import DetectorError
    from .sinks import SinkError
    from .sources import SourceError

    return (SourceError, SinkError, DetectorError, BackendError, CardError, ValueError, FileNotFoundError)


@contextmanager
def one_line_errors(errors: tuple[type[BaseException], ...], interrupted: str) -> Iterator[None]:
    """Library code raises; a command turns the expected errors into one line and exit code 2,
    and Ctrl-C into ``interrupted`` and 130."""
    try:
        yield
    except errors as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print(interrupted, file=sys.stderr)
        raise SystemExit(130) from None
