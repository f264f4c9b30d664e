"""The reference locator (testkit/reference.py): pinned sets found in ../shared or a cache one command fills.

- GitHub-hosted sets are fetched from a real HTTP server on 127.0.0.1 laid out as `<owner>/<repo>/<ref>/<path>` (the
  raw.githubusercontent.com shape), serving the pinned upstream files; never from the internet. A served file that
  differs from its pin fails the fetch and leaves nothing in the cache.
- Go-module sets are fetched by the real `go mod download` from a file:// module proxy (the machine's module
  download cache, so no network) into an empty module cache.
- A plain clone (no ../shared, empty cache, public sources unreachable) stops `make test`'s early check at once
  with one message naming the missing files and the fetch command.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from testkit import reference
from testkit.paths import ROOT

GITHUB_SETS = [s for s in reference.SETS if isinstance(s.source, reference.GitHubTree)]
GO_SETS = [s for s in reference.SETS if isinstance(s.source, reference.GoModule)]


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def upstream_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A raw.githubusercontent.com-shaped tree of every GitHub set (from the pinned files), served on 127.0.0.1."""
    root = tmp_path / "upstream"
    for ref in GITHUB_SETS:
        assert isinstance(ref.source, reference.GitHubTree)
        for rel in ref.files:
            upstream = f"{ref.upstream_dir}/{rel}" if ref.upstream_dir else rel
            target = root / ref.source.repo / ref.source.ref / upstream
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ref.path() / rel, target)
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def empty_locations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No shared directory, an empty cache: what a plain clone sees."""
    monkeypatch.setenv(reference.SHARED_ENV, str(tmp_path / "no-shared"))
    cache = tmp_path / "cache"
    monkeypatch.setenv(reference.CACHE_ENV, str(cache))
    return cache


def test_every_set_is_present_and_matches_its_pins() -> None:
    assert reference.check() == {}
    for ref in reference.SETS:
        assert ref.files, ref.name
        assert all(len(digest) == 64 for digest in ref.files.values())


def test_github_sets_fetch_from_a_local_server_into_the_cache(
    upstream_server: tuple[str, Path], empty_locations: Path
) -> None:
    base_url, _ = upstream_server
    assert set(reference.check(GITHUB_SETS)) == {s.name for s in GITHUB_SETS}
    names = [s.name for s in GITHUB_SETS]
    assert reference.main(["fetch", "--base-url", base_url, "--only", *names]) == 0
    assert reference.check(GITHUB_SETS) == {}
    for ref in GITHUB_SETS:
        assert ref.path().is_relative_to(empty_locations)
        assert sorted(str(p.relative_to(ref.path())) for p in ref.path().rglob("*") if p.is_file()) == sorted(ref.files)
    # A second fetch finds everything present and reads nothing.
    assert reference.main(["fetch", "--base-url", "http://127.0.0.1:9", "--only", *names]) == 0


def test_a_checksum_mismatch_fails_the_fetch_and_writes_nothing(
    upstream_server: tuple[str, Path], empty_locations: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base_url, root = upstream_server
    ref = reference.OPENCHOREO_V0_17_0_CRDS
    assert isinstance(ref.source, reference.GitHubTree)
    altered = root / ref.source.repo / ref.source.ref / ref.upstream_dir / "openchoreo.dev_workloads.yaml"
    altered.write_text(altered.read_text() + "# changed upstream\n")
    assert reference.main(["fetch", "--base-url", base_url, "--only", ref.name]) == 1
    err = capsys.readouterr().err
    assert f"{base_url}/openchoreo/openchoreo/v0.17.0/config/crd/bases/openchoreo.dev_workloads.yaml" in err
    assert "does not match the pinned" in err and ref.files["openchoreo.dev_workloads.yaml"] in err
    assert not (empty_locations / ref.directory).exists()
    assert [p.name for p in (empty_locations / ref.directory).parent.iterdir()] == []  # no staging left behind


def test_an_unreachable_source_fails_with_the_url(empty_locations: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref = reference.SAMPLE_WORKLOADS
    assert reference.main(["fetch", "--base-url", "http://127.0.0.1:9", "--only", ref.name]) == 1
    assert "http://127.0.0.1:9/openchoreo/sample-workloads/85b81ec/" in capsys.readouterr().err
    assert not (empty_locations / ref.directory).exists()


def _module_download_cache() -> Path:
    proc = subprocess.run(["go", "env", "GOMODCACHE"], capture_output=True, text=True, check=True)
    return Path(proc.stdout.strip()) / "cache" / "download"


@pytest.mark.oracle  # runs the Go toolchain (`go mod download`)
def test_go_module_sets_fetch_through_go_mod_download(
    empty_locations: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = _module_download_cache()
    # A file:// module proxy over this machine's download cache and an empty module cache: the real `go mod
    # download` runs and unpacks the zips, without the network (the checksum database is off for that reason).
    monkeypatch.setenv("GOPROXY", proxy.as_uri())
    monkeypatch.setenv("GOSUMDB", "off")
    monkeypatch.setenv("GOMODCACHE", str(tmp_path / "gomodcache"))
    monkeypatch.setenv("GOFLAGS", "-modcacherw")
    assert reference.main(["fetch", "--only", *(s.name for s in GO_SETS)]) == 0
    assert reference.check(GO_SETS) == {}
    assert all(s.path().is_relative_to(empty_locations) for s in GO_SETS)


@pytest.mark.oracle  # runs the Go toolchain (`go mod download`)
def test_an_unknown_module_version_fails_with_go_s_message(
    empty_locations: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOPROXY", (tmp_path / "empty-proxy").as_uri())
    monkeypatch.setenv("GOSUMDB", "off")
    monkeypatch.setenv("GOMODCACHE", str(tmp_path / "gomodcache"))
    with pytest.raises(reference.FetchError, match=r"Go module github.com/openchoreo/openchoreo@v1.2.3: go mod"):
        reference.fetch_set(reference.OPENCHOREO_V1_2_3_SAMPLES)
    assert not (empty_locations / reference.OPENCHOREO_V1_2_3_SAMPLES.directory).exists()


def test_a_plain_clone_stops_make_test_at_once_with_one_message(tmp_path: Path) -> None:
    """A `git clone` in a temp dir (no ../shared beside it), an empty cache: the early check of `make test`."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in (reference.SHARED_ENV, reference.CACHE_ENV)}
    env |= {"XDG_CACHE_HOME": str(tmp_path / "xdg-cache"), "PY": sys.executable}
    # The public sources are unreachable here (never the internet in tests): a closed port on 127.0.0.1 for GitHub,
    # the Go module proxy switched off with an empty module cache.
    env |= {reference.BASE_URL_ENV: "http://127.0.0.1:9", "GOPROXY": "off", "GOMODCACHE": str(tmp_path / "gomod")}
    assert not (tmp_path / "shared").exists()
    proc = subprocess.run(
        ["bash", "scripts/run-tests.sh"], cwd=clone, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "== static checks" not in proc.stdout  # stopped before anything slow
    err = proc.stderr
    assert err.count("upstream reference files missing") == 1
    for ref in reference.SETS:
        assert ref.name in err
    assert reference.FETCH_COMMAND in err
    assert "(fetching them failed: " in err
    assert not list((tmp_path / "xdg-cache").rglob("*.yaml"))  # nothing half-fetched
    # pytest itself stops with the same single message (conftest's session start).
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "tests/test_readme.py"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode != 0
    assert "upstream reference files missing" in proc.stdout + proc.stderr
    assert reference.FETCH_COMMAND in proc.stdout + proc.stderr


@pytest.mark.oracle  # runs the Go toolchain (`go mod download`)
def test_ensure_fetches_every_missing_set_from_its_source(
    upstream_server: tuple[str, Path], empty_locations: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make test`'s early check on a clone whose sources are reachable: everything fetched, exit 0."""
    base_url, _ = upstream_server
    monkeypatch.setenv(reference.BASE_URL_ENV, base_url)
    monkeypatch.setenv("GOPROXY", _module_download_cache().as_uri())
    monkeypatch.setenv("GOSUMDB", "off")
    monkeypatch.setenv("GOMODCACHE", str(tmp_path / "gomodcache"))
    monkeypatch.setenv("GOFLAGS", "-modcacherw")
    assert reference.main(["check"]) == 1
    assert reference.main(["ensure"]) == 0
    assert reference.check() == {}
    assert all(s.path().is_relative_to(empty_locations) for s in reference.SETS)
