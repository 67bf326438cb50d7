"""Loading tools.toml: the shipped file is valid, and bad files name the file and the key."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from streams.settings import Settings
from tools.config import (
    PROJECT_ROOT,
    InProcessServerConfig,
    StdioServerConfig,
    load_tools_config,
    parse_tools_config,
)
from tools.exceptions import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tools.toml"
    path.write_text(text)
    return path


def test_shipped_config_declares_the_bundled_servers() -> None:
    config = load_tools_config(Settings().tools_config)
    assert set(config.servers) >= {"calculator", "units", "docsearch", "simulated", "testing"}
    assert isinstance(config.servers["simulated"], InProcessServerConfig)
    calculator = config.servers["calculator"]
    assert isinstance(calculator, StdioServerConfig)
    assert calculator.argv()[0] == sys.executable
    assert calculator.tools["evaluate"].cacheable is True
    assert config.stdio_cwd(calculator) == PROJECT_ROOT


def test_relative_cwd_resolves_against_the_config_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[servers.x]\ntransport = "stdio"\ncommand = ["srv"]\ncwd = "sub"\n')
    config = load_tools_config(path)
    server = config.servers["x"]
    assert isinstance(server, StdioServerConfig)
    assert config.stdio_cwd(server) == tmp_path / "sub"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[servers.calc]\ntransport = "stdio"\n', "servers.calc.command"),
        ('[servers.calc]\ntransport = "stdio"\ncommand = []\n', "servers.calc.command"),
        ('[servers.calc]\ntransport = "smoke"\n', "servers.calc"),
        ('[servers.web]\ntransport = "http"\nurl = "ftp://x"\n', "servers.web.url"),
        ('[servers.p]\ntransport = "inprocess"\nfactory = "no-colon"\n', "servers.p.factory"),
        (
            '[servers.c]\ntransport = "stdio"\ncommand = ["x"]\n'
            "[servers.c.tools.t]\ncost_per_call = -1\n",
            "servers.c.tools.t.cost_per_call",
        ),
        (
            '[servers.c]\ntransport = "stdio"\ncommand = ["x"]\n'
            '[servers.c.tools.t]\npatterns = ["("]\n',
            "servers.c.tools.t.patterns",
        ),
        (
            '[servers.c]\ntransport = "stdio"\ncommand = ["x"]\n[servers.c.tools.t]\n'
            'patterns = ["\\\\d+"]\n',
            "servers.c.tools.t.patterns",
        ),
        ('[servers.c]\ntransport = "stdio"\ncommand = ["x"]\ncomand = 1\n', "servers.c.comand"),
        ('[servers."a.b"]\ntransport = "stdio"\ncommand = ["x"]\n', "servers"),
    ],
)
def test_invalid_config_names_file_and_key(tmp_path: Path, text: str, key: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_tools_config(path)
    message = str(caught.value)
    assert str(path) in message
    assert key in message


def test_toml_syntax_error_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[servers.x\n")
    with pytest.raises(ConfigError, match=r"tools\.toml: invalid TOML"):
        load_tools_config(path)


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.toml: cannot read"):
        load_tools_config(tmp_path / "missing.toml")


def test_parse_without_a_file() -> None:
    config = parse_tools_config({"servers": {"w": {"transport": "http", "url": "http://h:1/mcp"}}})
    assert config.source is None
    with pytest.raises(ConfigError, match="<tools config>"):
        parse_tools_config({"servers": {"w": {"transport": "http"}}})
