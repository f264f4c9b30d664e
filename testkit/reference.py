"""The one locator of upstream reference files for tests and benchmarks: pinned versions, sha256 per file.

Upstream files (Argo and OpenChoreo CRDs, OpenChoreo's sample workload descriptors and its own sample ClusterWorkflows
and step templates) are read at test time, never copied into the repository. Each set below names its upstream
source at a pinned version and the sha256 of every file; a set is found, in this order:

1. `$PACK_SHARED_DIR/reference/<dir>` or `../shared/reference/<dir>` (next to the checkout), when that directory exists;
2. the cache, `$PACK_REFERENCE_CACHE` or `${XDG_CACHE_HOME:-~/.cache}/openchoreo-ci-pack/reference/<dir>`, filled by
   one command: `python -m testkit.reference fetch`.

The fetch reads Go modules through `go mod download -json MODULE@VERSION` (the Go module proxy; `go` verifies the
module against go.sum/sumdb) and other files from `BASE_URL/<owner>/<repo>/<ref>/<path>` (default
raw.githubusercontent.com; `--base-url` points it elsewhere, e.g. a mirror or the tests' server on 127.0.0.1). Every
file is checked against its pinned sha256 before it lands in the cache; a set is written to a temporary directory and
renamed into place, so a failed fetch leaves nothing behind.

`python -m testkit.reference ensure` is the early check of `make test`: when a set is missing it fetches it from
its public source, and when that fails too it exits 1 with one message naming every missing or altered file and the
command that fetches them (`check` reports without fetching).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[1]
FETCH_COMMAND: Final = "python -m testkit.reference fetch"
SHARED_ENV: Final = "PACK_SHARED_DIR"
CACHE_ENV: Final = "PACK_REFERENCE_CACHE"
BASE_URL_ENV: Final = "PACK_REFERENCE_BASE_URL"
DEFAULT_BASE_URL: Final = "https://raw.githubusercontent.com"
DOWNLOAD_TIMEOUT_SECONDS: Final = 60
GO_TIMEOUT_SECONDS: Final = 600
MAX_FILE_BYTES: Final = 32 * 1024 * 1024  # the largest pinned file is a 2.8 MB CRD


# Reads one upstream file (its path inside the module or repository): (where it was read, its bytes).
Reader = Callable[[str], tuple[str, bytes]]


@dataclass(frozen=True)
class GoModule:
    """Files inside a Go module zip, as the Go module proxy serves it."""

    module: str
    version: str

    def describe(self) -> str:
        return f"Go module {self.module}@{self.version}"

    def reader(self, _base_url: str) -> Reader:
        """Download the module once (`go mod download`), then read its files from the module cache."""
        module_dir = _go_module_dir(self)

        def read(upstream: str) -> tuple[str, bytes]:
            where = f"{self.describe()}: {upstream}"
            try:
                return where, (module_dir / upstream).read_bytes()
            except OSError as exc:
                raise FetchError(f"{where}: {exc}") from exc

        return read


@dataclass(frozen=True)
class GitHubTree:
    """Files of a GitHub repository at a pinned tag or commit (not published as a Go module at that version)."""

    repo: str
    ref: str

    def describe(self) -> str:
        return f"github.com/{self.repo} at {self.ref}"

    def reader(self, base_url: str) -> Reader:
        """Each file from `BASE_URL/<owner>/<repo>/<ref>/<path>`."""

        def read(upstream: str) -> tuple[str, bytes]:
            url = f"{base_url.rstrip('/')}/{self.repo}/{self.ref}/{upstream}"
            return url, _download(url)

        return read


@dataclass(frozen=True)
class ReferenceSet:
    """One directory of upstream files: where it comes from and what each file must hash to."""

    name: str
    source: GoModule | GitHubTree
    upstream_dir: str  # the directory inside the module or repository
    files: Mapping[str, str]  # path relative to upstream_dir -> sha256
    directory: str  # where it lives under the shared reference directory and in the cache
    in_shared: bool  # whether ../shared/reference carries it

    def path(self) -> Path:
        """The directory the tests read: the shared reference copy when present, else the cache."""
        if self.in_shared:
            shared = shared_reference_dir() / self.directory
            if shared.is_dir():
                return shared
        return cache_dir() / self.directory

    def problems(self) -> list[str]:
        """Missing or altered files (empty when the set is complete and every checksum matches)."""
        base = self.path()
        out: list[str] = []
        for rel, expected in sorted(self.files.items()):
            file = base / rel
            if not file.is_file():
                out.append(rel)
            elif _sha256(file) != expected:
                out.append(f"{rel} (sha256 differs from the pin)")
        return out


def shared_reference_dir() -> Path:
    configured = os.environ.get(SHARED_ENV)
    base = Path(configured) if configured else ROOT.parent / "shared"
    return base.resolve() / "reference"


def cache_dir() -> Path:
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).resolve()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "openchoreo-ci-pack" / "reference"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _pins(table: str) -> dict[str, str]:
    """Lines of path, then its sha256 (indented) -> {path: sha256}."""
    words = table.split()
    return dict(zip(words[0::2], words[1::2], strict=True))


ARGO_V4_1_2_CRDS: Final = ReferenceSet(
    "argo-v4.1.2-crds",
    GitHubTree("argoproj/argo-workflows", "v4.1.2"),  # v4.1.2 is not on the Go module proxy
    "manifests/base/crds/full",
    _pins(
        """
        argoproj.io_clusterworkflowtemplates.yaml
            1a1e40dca1a544c44b382ff9f50d44a4b6a6a7ff76c0a2d8e6a929c2ddb13749
        argoproj.io_workflows.yaml
            35ffc0d16c9c71db69ae113e562d90057eac75a60e7371aa3012a3171ccd8c39
        argoproj.io_workflowtemplates.yaml
            e932631a04a0f3a226b2ca8c68d43214c071c5d8aa6961b23298b81cbea3d9a5
        """
    ),
    "crds/argo-v4.1.2",
    in_shared=True,
)
ARGO_V4_0_5_CRDS: Final = ReferenceSet(
    "argo-v4.0.5-crds",
    GoModule("github.com/argoproj/argo-workflows/v4", "v4.0.5"),
    "manifests/base/crds/full",
    _pins(
        """
        argoproj.io_clusterworkflowtemplates.yaml
            d26f8fba607dd12d472703ace7cba265d47f96f8e000065a9904a3cb6613219d
        argoproj.io_workflows.yaml
            88e9b55114acf6c515f846554a249f24c01d9b09490c231f7fb9821a1ebf1458
        argoproj.io_workflowtemplates.yaml
            b485418465242df241c94077d7a64698c637e713e1e6434c3798d5c4aec44f5b
        """
    ),
    "crds/argo-v4.0.5",
    in_shared=False,
)
ARGO_V3_6_2_CRDS: Final = ReferenceSet(
    "argo-v3.6.2-crds",
    GoModule("github.com/argoproj/argo-workflows/v3", "v3.6.2"),
    "manifests/base/crds/full",
    _pins(
        """
        argoproj.io_clusterworkflowtemplates.yaml
            0c7c4ced648cab20024e266fabbc0c7fc268ca0bd64be323336b8ade3c4d4da5
        argoproj.io_workflows.yaml
            372b40c1893f15676d51f32a328e08951ff6fddbb2f69415ec660e4eef7f5177
        argoproj.io_workflowtemplates.yaml
            7de064e9f453ba9bef9e8e2ff21a545248cb5e47c11425e8e2ad7e7b36d82cfd
        """
    ),
    "crds/argo-v3.6.2",
    in_shared=False,
)
OPENCHOREO_V0_17_0_CRDS: Final = ReferenceSet(
    "openchoreo-v0.17.0-crds",
    GitHubTree("openchoreo/openchoreo", "v0.17.0"),  # v0.17.0 is not on the Go module proxy
    "config/crd/bases",
    _pins(
        """
        openchoreo.dev_workflowruns.yaml
            a156905855c6895ba5d619ce07bcba0aec9db8bf23c75ed4546dce8bbd7881bf
        openchoreo.dev_workflows.yaml
            353a7c3038db726bb453bcc351b73c9a9047174e50d70ccc5d1df6e741679c8e
        openchoreo.dev_workloads.yaml
            414921f135cae412b4989a7920e61c723efd2110988594e231abdcf5bf41846b
        """
    ),
    "crds/openchoreo-v0.17.0",
    in_shared=True,
)
OPENCHOREO_V1_2_3_CRDS: Final = ReferenceSet(
    "openchoreo-v1.2.3-crds",
    GoModule("github.com/openchoreo/openchoreo", "v1.2.3"),
    "config/crd/bases",
    _pins(
        """
        openchoreo.dev_clusterworkflows.yaml
            e0cc8e139e246a5661d76eb5435d41b5077d94d5db7740b8a1124102353331c2
        openchoreo.dev_workflowruns.yaml
            509a476db7beae463c83bd6cbf166176ab5923dd56283588840ce5c78e7e150c
        openchoreo.dev_workflows.yaml
            1decb54ca019f38027b9d65955c55b1692e27e369d5ef37d25c09400d45b5c16
        openchoreo.dev_workloads.yaml
            6ce29e1e32cf40b8eb9584c934e46633282e64ca569abbb06512360ac29bae26
        """
    ),
    "crds/openchoreo-v1.2.3",
    in_shared=True,
)
SAMPLE_WORKLOADS: Final = ReferenceSet(
    "sample-workloads",
    GitHubTree("openchoreo/sample-workloads", "85b81ec"),  # the commit ../shared was copied from
    "",
    _pins(
        """
        micro-integrator/data-service-mi/db-init/workload.yaml
            173f81ea475d72f83429d767128bcd444d5694d3bcf751780c05771883fac2c2
        micro-integrator/data-service-mi/micro-integrator-ds/workload.yaml
            bd8826a21430df2f2ca37d3ffe5645d485ef37406f923592bfcd31b7ee8d2918
        micro-integrator/data-service-mi/mysql/workload.yaml
            d2c183839d0f331f6a23e111eb45667e65fc8fc2152aa99cd6568cd43cde2b89
        micro-integrator/hello-world-mi/workload.yaml
            b2f2d4d1a60d3d291772b333dfcdd25e8bffbfc1645bd96827d3b455d336d740
        project-latency-lab/analytics-service/workload.yaml
            334d41f12311c4f7f668d3eb929e1353e6a0721abec017338f6a73bb328e9085
        project-latency-lab/api-service-broken/workload.yaml
            418612a4c4f0f7a1805a154d71b1de9f7e9b51e92b2a31c5f083e1492fd4d7d3
        project-latency-lab/api-service/workload.yaml
            79015c48537b537b93ebd4aaf565d1b7644d0922a07639b4ac52c074edb5c4d6
        project-latency-lab/auth-service/workload.yaml
            8ecefa5403a022a1a511fbb0845213a11e981cd454303485422c9b5188fc8fda
        project-latency-lab/db/workload.yaml
            1b47e16cf96cc23c38ad13d1515288c1d830297b2b9a2b5e7e6fe46b5049c645
        project-latency-lab/frontend/workload.yaml
            317db41446e3f13fc75ffb3e0ddf319aba623596c1e7676728a4037231481272
        project-latency-lab/redis/workload.yaml
            3f72d73830f9f454a83649cfbdd88489c914c144dc4d0f1a6255658d6429ca5a
        project-url-shortener/analytics-service/workload.yaml
            bc407eab624af970fd5a80a82e54ad6feaf1e8fcc782d97c72da341682aa8d4a
        project-url-shortener/api-service/workload.yaml
            afaae33ddae83efbb652d9a7aeee40c2a5afc883c585799e53f30327665d58ee
        project-url-shortener/db/workload.yaml
            68afea1b115683327a474c50cabd1c5ac7a747449149a700cff65b951c2f7445
        project-url-shortener/frontend/workload.yaml
            4eb41edf57907367e69916a436067b9b3cec85af61f3b857f6c05a72ba651d42
        project-url-shortener/redis/workload.yaml
            3f72d73830f9f454a83649cfbdd88489c914c144dc4d0f1a6255658d6429ca5a
        service-ballerina-patient-management/openapi.yaml
            c77d0e3a2acdf6050243b9d713f1bc99cc176ca2fc0ad0c85ce1462bf74e2e6d
        service-ballerina-patient-management/workload.yaml
            af10f91e34c061f2d61665020b4b236de37c7ccaf330a61caf905c683c11b38b
        service-go-ai-chat/workload.yaml
            94b27502db36ed25f982aa3e7954330ec9c8bfb160bd0f091c9097e90f61277c
        service-go-ai-reading-assistant/workload.yaml
            4270ca7ee646ee3d31c6065afc9924756b8767f642e125037cb29c18a51e66e3
        service-go-greeter/openapi.yaml
            ce29ca4b8fcacb1bdd4680d62342112832969aa7535423597d35c84e9591b582
        service-go-greeter/workload.yaml
            fa33c82bd7d9b45fe505c2174195e874234d71bb85d5b072743dddd0428dfa6f
        service-go-reading-list/docs/openapi.yaml
            c44b276ee35756202540e45ab9769586b16e3376ae5c3bb5b91171a6d473decf
        service-go-reading-list/workload.yaml
            65ee6eca7846beb4ff0075af18e27d22a3248d7f88404de15df80a77ae840fef
        service-go-reading-notes-mcp/workload.yaml
            8aad1c9536749d5efca724910e01df2cc012a532d2377c5ef5e47dd46571b604
        service-python-reading-list/openapi.yaml
            a4c64e0771e4000cd01757f755bbfac4fd30e36d9d2e9958bb109df6218caf61
        service-python-reading-list/workload.yaml
            322bf6bd7758693906176eb9b3e39909d260b6c0c9a270a4ef9957dd36323254
        webapp-go-poll-app/workload.yaml
            d351d4a2344eeb07d93350edbd396dbf329c637bb2c384de3cccc8504127fabe
        webapp-php-task-manager/workload.yaml
            7a00c09838ab5ed3293675a6decdbab517cd9dc380b7402973561a86bae1b98b
        webapp-python-flask/workload.yaml
            2c9644644e464055bbc5acb7c0ec60cf754c3179c884b43108dde7eb9fed072f
        webapp-react-nginx/workload.yaml
            68143b67f368112b105e2c09449036c506f80b2f0326c861c85d33deac3da8f2
        """
    ),
    "sample-workloads",
    in_shared=True,
)
OPENCHOREO_V1_2_3_SAMPLES: Final = ReferenceSet(
    "openchoreo-v1.2.3-samples",
    GoModule("github.com/openchoreo/openchoreo", "v1.2.3"),
    "samples/getting-started",
    _pins(
        """
        ci-workflows/ballerina-buildpack-builder.yaml
            71544e8e081f1a7409c2dd7b7153a095dd6daa4d3ffec80eaa463c503c132cd5
        ci-workflows/dockerfile-builder.yaml
            1d5e883ad0de73bdd4cfe0bfb7d7f411cf805d0a9397e349b30138e2dec0fa14
        ci-workflows/gcp-buildpacks-builder.yaml
            31700a3d2b424e0af3752f3475baffa3caaebbd7d141247795ed9254d604ab77
        ci-workflows/paketo-buildpacks-builder.yaml
            a75357f8eab1cb2e7926ae7cde7ba100cdf15eb535789de4c2e91f5b1d76c093
        workflow-templates/ballerina-buildpack-build.yaml
            09848d070a37961bb87f0a5f97fce6267b5058fff2987c387a83e8f9717de368
        workflow-templates/checkout-source.yaml
            20cdf4a32865eae1ceed4f7e2cd3d7a032907dc410e56c5bea72a1f07215f9bd
        workflow-templates/containerfile-build.yaml
            b9bf67e2e13f492c5ed4e42ad45b238872e8db79a52345d16a4014af002bea00
        workflow-templates/gcp-buildpacks-build.yaml
            813678b27729282adede36673e715406ea4e84b8cd10af7ff2da2fff6d3e2081
        workflow-templates/generate-workload-k3d.yaml
            1f16ce62d75f1a422ec0dde9249cced4f3669cddca020544f2126faead192e0a
        workflow-templates/generate-workload.yaml
            c45cbe9c0a10d3acc3ddb934e57be8dc17bd2109cc99858841dc4ed97d2f5704
        workflow-templates/paketo-buildpacks-build.yaml
            89356f904e9d32e0083efe28e75a086735e36b143920ab2daec782a213435ace
        workflow-templates/publish-image-k3d.yaml
            15647770592d18ac6c1449e990ff148d570b588856a969240f0bbeb8baeb21c4
        workflow-templates/publish-image.yaml
            48196075641a5db031864b3ce1bdde7275058cf2bec5dd4fe522f3605f1a6ef8
        """
    ),
    "openchoreo-v1.2.3-samples",
    in_shared=False,
)

SETS: Final = (
    ARGO_V4_1_2_CRDS,
    ARGO_V4_0_5_CRDS,
    ARGO_V3_6_2_CRDS,
    OPENCHOREO_V0_17_0_CRDS,
    OPENCHOREO_V1_2_3_CRDS,
    SAMPLE_WORKLOADS,
    OPENCHOREO_V1_2_3_SAMPLES,
)


class FetchError(RuntimeError):
    """A set could not be fetched or did not match its pinned checksums (nothing was written)."""


def missing_message(problems: Mapping[str, list[str]]) -> str:
    """The one message for missing reference files: what is missing and the command that fetches it."""
    known = {s.name: s for s in SETS}
    lines = [f"upstream reference files missing or altered ({sum(len(p) for p in problems.values())} file(s)):"]
    for name, files in problems.items():
        shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
        ref = known.get(name)
        where = f" ({ref.source.describe()}) in {ref.path()}" if ref else ""
        lines.append(f"  {name}{where}: {shown}")
    names = " ".join(problems)
    lines.append(
        f"fetch them with `{FETCH_COMMAND}` (or `{FETCH_COMMAND} --only {names}`), "
        f"or point ${SHARED_ENV} at a directory holding reference/"
    )
    return "\n".join(lines)


def check(sets: Sequence[ReferenceSet] = SETS) -> dict[str, list[str]]:
    """Problems per set name (empty when every set is present and intact)."""
    return {s.name: p for s in sets if (p := s.problems())}


def _go_module_dir(source: GoModule) -> Path:
    try:
        proc = subprocess.run(
            ["go", "mod", "download", "-json", f"{source.module}@{source.version}"],
            capture_output=True,
            text=True,
            timeout=GO_TIMEOUT_SECONDS,
            check=False,
            cwd=tempfile.gettempdir(),  # outside any module: go verifies against the checksum database
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FetchError(f"{source.describe()}: cannot run `go mod download`: {exc}") from exc
    try:
        info = json.loads(proc.stdout) if proc.stdout.strip() else {}
    except ValueError:
        info = {}
    if proc.returncode != 0 or not info.get("Dir") or info.get("Error"):
        detail = info.get("Error") or proc.stderr.strip() or f"exit {proc.returncode}"
        raise FetchError(f"{source.describe()}: go mod download failed: {detail}")
    return Path(info["Dir"])


def _download(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response:
            data: bytes = response.read(MAX_FILE_BYTES + 1)
    except (urllib.error.URLError, OSError) as exc:
        raise FetchError(f"{url}: {exc}") from exc
    if len(data) > MAX_FILE_BYTES:
        raise FetchError(f"{url}: larger than {MAX_FILE_BYTES} bytes; not a pinned file")
    return data


def default_base_url() -> str:
    return os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL


def fetch_set(ref: ReferenceSet, base_url: str | None = None) -> Path:
    """Fetch one set into the cache, every file checked against its pin; returns the set's cache directory."""
    base_url = base_url or default_base_url()
    target = cache_dir() / ref.directory
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{Path(ref.directory).name}-", dir=target.parent))
    try:
        read = ref.source.reader(base_url)
        for rel, expected in sorted(ref.files.items()):
            where, data = read(f"{ref.upstream_dir}/{rel}" if ref.upstream_dir else rel)
            actual = hashlib.sha256(data).hexdigest()
            if actual != expected:
                raise FetchError(f"{where}: sha256 {actual} does not match the pinned {expected}; nothing written")
            out = staging / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(data)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def fetch_missing(
    sets: Sequence[ReferenceSet], base_url: str | None = None, say: Callable[[str], object] = lambda _line: None
) -> list[str]:
    """Fetch every set of `sets` that is missing or altered (`say` hears what happened to each); the failures,
    one line per set."""
    failures: list[str] = []
    for ref in sets:
        if not ref.problems():
            say(f"{ref.name}: present at {ref.path()}")
            continue
        try:
            where = fetch_set(ref, base_url)
        except FetchError as exc:
            failures.append(f"{ref.name}: {exc}")
        else:
            say(f"{ref.name}: fetched {len(ref.files)} file(s) from {ref.source.describe()} into {where}")
    return failures


def _select(names: Sequence[str] | None) -> list[ReferenceSet]:
    if not names:
        return list(SETS)
    known = {s.name: s for s in SETS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown reference set(s): {', '.join(unknown)} (known: {', '.join(known)})")
    return [known[n] for n in names]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testkit.reference", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="exit 1 with one message when a pinned file is missing or altered")
    sub.add_parser("ensure", help="fetch what is missing; exit 1 with one message when that fails")
    fetch = sub.add_parser("fetch", help="fill the cache with every set that is missing (from public sources)")
    fetch.add_argument(
        "--base-url",
        default=None,
        help=f"where GitHub files are read (default ${BASE_URL_ENV} or {DEFAULT_BASE_URL})",
    )
    sub.add_parser("where", help="print the directory of every set")
    for command in (fetch,):
        command.add_argument("--only", nargs="+", metavar="SET", help="only these sets")
    args = parser.parse_args(argv)
    if args.command == "where":
        for ref in SETS:
            print(f"{ref.name}\t{ref.path()}")
        return 0
    if args.command in ("check", "ensure"):
        errors = fetch_missing(SETS) if args.command == "ensure" else []
        problems = check()
        if problems:
            tried = f"\n(fetching them failed: {errors[0]})" if errors else ""
            print(missing_message(problems) + tried, file=sys.stderr)
            return 1
        return 0
    failures = fetch_missing(_select(args.only), args.base_url, say=print)
    for failure in failures:
        print(f"fetch failed: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
