"""Run ``xytok`` in this process and capture what it prints."""
from __future__ import annotations

import contextlib
import io

from xy_tokenizer import cli


def run_cli(*argv) -> tuple[int, str, str]:
    """``(exit code, stdout, stderr)`` of ``xytok ARGV`` (arguments are turned into strings)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()
