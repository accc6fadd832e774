"""The Dockerfiles, parsed (never built: no Docker engine here): pinned bases, lock installs, non-root."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

from .conftest import DEPLOY, ROOT

IMAGES = {"app": "app", "extraction": "extraction"}  # Dockerfile stem → the only extra it installs
PINNED_BASE = re.compile(r"^python:3\.12\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?$")


def parse(stem: str) -> DockerfileParser:
    parser = DockerfileParser(fileobj=(DEPLOY / "docker" / f"{stem}.Dockerfile").open("rb"))
    return parser


def instructions(stem: str) -> list[dict[str, str]]:
    return list(parse(stem).structure)


def stages(stem: str) -> list[list[dict[str, str]]]:
    found: list[list[dict[str, str]]] = []
    for item in instructions(stem):
        if item["instruction"] == "FROM":
            found.append([])
        if found:
            found[-1].append(item)
    return found


def test_every_dockerfile_is_covered() -> None:
    assert {path.stem for path in (DEPLOY / "docker").glob("*.Dockerfile")} == set(IMAGES)


@pytest.mark.parametrize("stem", sorted(IMAGES))
def test_multi_stage_with_pinned_bases(stem: str) -> None:
    bases = [stage[0]["value"].split()[0] for stage in stages(stem)]
    assert len(bases) >= 2, "build in one stage, run in a slim one"
    for base in bases:
        assert PINNED_BASE.match(base), f"{stem}: base {base!r} is not an exact python:3.12.x-slim-bookworm tag"
    assert "AS build" in stages(stem)[0][0]["value"]


@pytest.mark.parametrize("stem", sorted(IMAGES))
def test_installs_exactly_the_lock_with_one_extra(stem: str) -> None:
    build = stages(stem)[0]
    runs = [item["value"] for item in build if item["instruction"] == "RUN"]
    syncs = [run for run in runs if "uv sync" in run]
    assert syncs, f"{stem}: install with `uv sync` from uv.lock"
    for run in syncs:
        assert "--locked" in run and "--no-dev" in run
        assert re.findall(r"--extra[ =](\S+)", run) == [IMAGES[stem]]
        assert "--all-extras" not in run
    assert not [run for run in runs if re.search(r"pip install (?!--no-cache-dir uv==\d)", run)], "pip only installs uv"
    assert re.search(r"uv==\d+\.\d+\.\d+", " ".join(runs)), "uv itself is pinned"
    copies = " ".join(item["value"] for item in build if item["instruction"] == "COPY")
    assert "uv.lock" in copies and "pyproject.toml" in copies
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert IMAGES[stem] in extras


@pytest.mark.parametrize("stem", sorted(IMAGES))
def test_runs_as_non_root(stem: str) -> None:
    final = stages(stem)[-1]
    users = [item["value"].strip() for item in final if item["instruction"] == "USER"]
    assert users, f"{stem}: the final stage sets USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    last_user_index = max(index for index, item in enumerate(final) if item["instruction"] == "USER")
    assert not [item for item in final[last_user_index:] if item["instruction"] == "RUN"], "no RUN after USER"
    copies = [item["value"] for item in final if item["instruction"] == "COPY"]
    assert any("--from=build /opt/venv" in value for value in copies), "only the built environment is copied"


@pytest.mark.parametrize("stem", sorted(IMAGES))
def test_entrypoint_runs_the_cli(stem: str) -> None:
    final = stages(stem)[-1]
    entrypoint = [item["value"] for item in final if item["instruction"] == "ENTRYPOINT"]
    assert entrypoint == ['["/usr/local/bin/entrypoint.sh"]']
    script = (DEPLOY / "docker" / "entrypoint.sh").read_text()
    assert 'exec "${FORECAST_PANEL_BIN:-/opt/venv/bin/forecast-panel}" "$@"' in script
    assert (DEPLOY / "docker" / "entrypoint.sh").stat().st_mode & 0o111, "entrypoint.sh is executable"
    assert (DEPLOY / "docker" / f"{stem}.Dockerfile.dockerignore").exists()


def test_app_image_exposes_panel_and_its_health_check() -> None:
    final = stages("app")[-1]
    assert [item["value"] for item in final if item["instruction"] == "EXPOSE"] == ["5006"]
    (health,) = [item["value"] for item in final if item["instruction"] == "HEALTHCHECK"]
    assert "/liveness" in health


def test_app_image_runs_the_servers_allocator() -> None:
    """The image sets the variables ``forecast-panel serve`` would re-execute itself with."""
    from forecast_panel import memory

    final = stages("app")[-1]
    environment = parse("app").envs
    assert {key: environment.get(key) for key in ("PYTHONMALLOC", "LD_PRELOAD", "MALLOC_CONF")} == (
        memory.server_environment({}, "libjemalloc.so.2")
    )
    installs = " ".join(item["value"] for item in final if item["instruction"] == "RUN")
    assert re.search(r"apt-get install -y --no-install-recommends libjemalloc2\b", installs)


@pytest.mark.parametrize("stem", sorted(IMAGES))
def test_debian_packages_are_not_pinned_to_exact_versions(stem: str) -> None:
    """An exact Debian version (``pkg=1.2-3``) breaks the build when a security update replaces it."""
    installs = " ".join(item["value"] for stage in stages(stem) for item in stage if item["instruction"] == "RUN")
    for command in re.findall(r"apt-get install[^&;]*", installs):
        assert "=" not in command, f"{stem}: {command.strip()} pins an exact Debian version"


@pytest.mark.parametrize("stem", sorted(IMAGES))
def test_every_package_of_the_wheel_is_copied_into_the_image(stem: str) -> None:
    """The image builds the project's wheel, which lists every package: each must be in the build."""
    import tomllib

    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"]
    copied = {
        source
        for item in stages(stem)[0]
        if item["instruction"] == "COPY" and "--from" not in item["value"]
        for source in item["value"].split()[:-1]
    }
    for package in packages["packages"]:
        top = package.split("/")[0]
        assert top in copied, f"{stem}: COPY {top} (a package of the wheel) is missing"
        ignore = (DEPLOY / "docker" / f"{stem}.Dockerfile.dockerignore").read_text()
        assert f"!{top}/**" in ignore, f"{stem}: the build context filter drops {top}"


def test_build_context_paths_exist() -> None:
    for stem in IMAGES:
        for item in stages(stem)[0]:
            if item["instruction"] == "COPY" and "--from" not in item["value"]:
                for source in item["value"].split()[:-1]:
                    assert (ROOT / source).exists(), f"{stem}: COPY {source} is missing from the repository"
    assert Path(ROOT / "deploy" / "docker" / "entrypoint.sh").exists()
