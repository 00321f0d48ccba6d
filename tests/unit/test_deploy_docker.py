"""deploy/Dockerfile and Dockerfile.cuda, read as text: no container engine runs here, so these
checks hold the lines that matter (bases, the torch pin in step with the Makefile, the install
order, what is copied, no root, no ENTRYPOINT that would swallow the operator's args)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
DEPLOY = ROOT / "deploy"


def instructions(name: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = (DEPLOY / name).read_text()
    lines, current = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        current = f"{current} {line[:-1].strip()}" if line.endswith("\\") else f"{current} {line}"
        if not line.endswith("\\"):
            lines.append(current.strip())
            current = ""
    out = []
    for line in lines:
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def makefile_torch() -> str:
    match = re.search(r"^TORCH\s*\?=\s*torch==(\S+)", (ROOT / "Makefile").read_text(), re.M)
    assert match
    return match.group(1)


def arg(instrs, name):
    for word, rest in instrs:
        if word == "ARG" and rest.startswith(f"{name}="):
            return rest.split("=", 1)[1]
    raise AssertionError(f"no ARG {name}")


def run_index(instrs, needle):
    for i, (word, rest) in enumerate(instrs):
        if word == "RUN" and needle in rest:
            return i
    raise AssertionError(f"no RUN with {needle!r}")


@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.cuda"])
def test_common_rules(name):
    instrs = instructions(name)
    words = [w for w, _ in instrs]
    assert words[0] == "FROM" and words.count("FROM") == 1
    assert "latest" not in instrs[0][1] and ":" in instrs[0][1]
    assert arg(instrs, "TORCH_VERSION") == makefile_torch()
    torch = run_index(instrs, '"torch==${TORCH_VERSION}"')
    project = run_index(instrs, '".[cloud]"')
    assert torch < project, "torch must be installed, pinned, before the project"
    for word, rest in instrs:
        if word == "COPY":
            for source in rest.split()[:-1]:
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
    copied = {s for w, r in instrs if w == "COPY" for s in r.split()[:-1]}
    assert {"pyproject.toml", "README.md", "lascoproc", "cli"} <= copied
    assert "ENTRYPOINT" not in words  # the operator's args are the command
    user = [r for w, r in instrs if w == "USER"]
    assert user and user[-1] not in ("root", "0")
    assert words.index("USER") > project
    for word, rest in instrs:
        if word == "RUN" and "apt-get install" in rest:
            assert "--no-install-recommends" in rest and "rm -rf /var/lib/apt/lists" in rest


def test_cpu_image():
    instrs = instructions("Dockerfile")
    assert instrs[0] == ("FROM", "python:3.11-slim")
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "requires-python"]
    assert requires == ">=3.11"
    torch_line = instrs[run_index(instrs, "torch==")][1]
    assert "--index-url https://download.pytorch.org/whl/cpu" in torch_line


def test_cuda_image():
    instrs = instructions("Dockerfile.cuda")
    base = instrs[0][1]
    assert base.startswith("nvidia/cuda:") and "runtime" in base
    cuda = re.match(r"nvidia/cuda:(\d+)\.(\d+)", base)
    tag = arg(instrs, "CUDA_TAG")
    assert tag == f"cu{cuda.group(1)}{cuda.group(2)}", "torch's CUDA build must match the base"
    torch_line = instrs[run_index(instrs, "torch==")][1]
    assert "download.pytorch.org/whl/${CUDA_TAG}" in torch_line
    assert any(w == "ENV" and "VIRTUAL_ENV=/opt/venv" in r for w, r in instrs)


def test_guide_covers_every_deploy_file():
    guide = (DEPLOY / "README.md").read_text()
    for path in sorted(DEPLOY.rglob("*")):
        if path.is_file() and path.name != "README.md":
            assert str(path.relative_to(DEPLOY)) in guide, f"deploy/README.md: {path.name}"
    for word in ("--scheduler", "--cluster", "docker build", "kubectl apply",
                 "dask-kubernetes", "dask-jobqueue", "GPU=1"):
        assert word in guide
