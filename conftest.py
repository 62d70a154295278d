"""Shared by the Python test suites (lakehouse-py, lakehouse-mcp, lakehouse-http tests): the
`lakehouse` binary the Rust build made, which the tests drive as a user would."""

import os
import shutil

import pytest


@pytest.fixture(scope="session")
def lakehouse_bin():
    """Path of the `lakehouse` binary: `LAKEHOUSE_BIN` (scripts/test.sh sets it), else PATH."""
    cli = os.environ.get("LAKEHOUSE_BIN") or shutil.which("lakehouse")
    if not cli:
        pytest.fail("set LAKEHOUSE_BIN to the lakehouse binary (scripts/test.sh does)")
    return cli
