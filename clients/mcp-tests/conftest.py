"""Fixtures shared by the MCP test modules."""
import pytest

from harness import venv


@pytest.fixture(scope="module")
def env_dir():
    """The private venv's directory, with the real MCP servers and the MCP SDK."""
    return venv()
