"""SWE-bench Lite offline: instances checked out from local git mirrors, tested in environments built from PyPI,
scored as SWE-bench scores them.

- **Mirrors.** ``MIRRORS/<owner>__<name>.git``: a bare clone (or a symbolic link to one) of each repository, e.g.
  ``django__django.git``, ``sympy__sympy.git``, ``pytest-dev__pytest.git``; it must hold every ``base_commit`` and
  ``environment_setup_commit``. A workspace is a git repository of its own (branch ``main`` at ``base_commit``, no
  other branch, tag or remote) that borrows the mirror's objects (``objects/info/alternates``): checking out Django
  takes a second, and the mirror must stay where it is while the workspace is used.
- **Environments.** Built the way SWE-bench builds its docker images, from SWE-bench's own specs
  (``MAP_REPO_VERSION_TO_SPECS``), with pyenv's Python and pip in place of conda. Its environment image is one Python
  installation per ``(repo, version)`` (a copy of pyenv's, as a conda environment is, not a venv): the spec's Python,
  its ``packages`` (a requirements file read from the mirror at ``environment_setup_commit``, an ``environment.yml``'s
  dependencies, or package names) and ``pip_packages``. Its instance image is, here, a layer per base commit in that
  environment: ``pre_install`` and ``install`` (``pip install -e .``) in a throwaway checkout of ``base_commit`` (so
  the dependencies of that commit are there: pytest 5.4's base commits need ``wcwidth``, its environment_setup_commit
  does not), after which the install's path hooks (``.egg-link``, ``__editable__`` files) are taken out, its metadata
  (version, entry points) stays, and what it wrote into the checkout that git ignores (``src/_pytest/_version.py``) is
  kept in the layer. An instance's tests run with ``PATH`` starting at the environment's ``bin`` and ``PYTHONPATH`` at
  the tree's import root (``src`` for a src layout), the generated files copied into the tree: one environment serves
  every instance of its version and every attempt at once, read-only in the sandbox, and the code tested is always the
  tree's own, never an installed copy. Kept under ``~/.cache/autonomo/swe-envs/<owner>__<name>__<version>``
  (``$AUTONOMO_CACHE`` moves it), the build's log beside it.
- **swebench.** Version 4.1.0, the last with the specs (5.x uses prebuilt images). Only its
  ``harness.constants`` (specs), ``harness.log_parsers.python`` (the parsers), ``harness.grading`` (the resolution
  rules) and ``harness.test_spec.python`` (test directives, requirement clean-up) are loaded, straight from its
  files: the package's own ``__init__`` (which imports docker, datasets, modal...) never runs. It is found in
  ``$AUTONOMO_SWEBENCH``, on ``sys.path``, or in the cache, where it is installed with ``pip --no-deps`` on first use.
- **Scoring.** A fresh checkout of ``base_commit`` gets the agent's changes (the tree's diff from ``base_commit``,
  new files included); the files the ``test_patch`` touches are put back as at ``base_commit`` and the
  ``test_patch`` is applied; the spec's ``test_cmd`` runs on the test directives (the test files the patch touches;
  module paths for Django) in the sandbox; swebench's parser for the repository reads the log, and swebench's
  grading decides: resolved when every ``FAIL_TO_PASS`` and ``PASS_TO_PASS`` test passes (a skipped one counts as
  neither).

Differences from SWE-bench's docker harness: the repository's ``install`` runs once per base commit, not again
in each evaluation (an agent's change to ``setup.py``'s dependencies is not installed), and the instances of a
version share one environment (the last install's metadata and versions win); system commands in the specs
(``apt-get``, ``locale-gen``) are skipped, and ``en_US.UTF-8`` becomes ``C.UTF-8`` where the former is not
installed; a requirement of a requirements file that pip cannot install is skipped (and listed in the environment's
``autonomo-env.json``) instead of failing the environment; a file that the ``test_patch`` creates is removed from
the agent's tree before it is applied (SWE-bench's ``git apply`` would fail).
"""

from __future__ import annotations

import ast
import fcntl
import functools
import importlib
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autonomo.bench.tasks import Score, TaskFileError
from autonomo.company.git import IDENTITY
from autonomo.computer.sandbox import Limits, Sandbox
from autonomo.errors import SetupError
from autonomo.files import slug, write_atomic
from autonomo.repo.checkout import LEFT_OUT, git

CACHE = Path(os.environ.get("AUTONOMO_CACHE") or Path.home() / ".cache" / "autonomo")
ENVS = CACHE / "swe-envs"
SWEBENCH_VERSION = "4.1.0"
SWE_TASKS = Path(__file__).resolve().parents[3].parent / "shared" / "benchmarks" / "swe-bench-lite" / "tasks.jsonl"
SCORE_TIMEOUT = 1800.0  # SWE-bench's own limit for an instance's tests
BUILD_TIMEOUT = 3600.0  # one step of an environment's build
OUTPUT_LIMIT = 2_000_000  # characters of a test run kept for the parser: Django's -v 2 lists every test
ENV_FILE = "autonomo-env.json"
# Bootstrapping an environment: conda's envs come with pip, setuptools and wheel; old projects need setuptools'
# ``setup.py develop`` and pkg_resources, and pip >= 24.1 refuses the legacy versions of old pins.
BOOTSTRAP = ("pip<24.1", "setuptools<70", "wheel")
SYSTEM_COMMAND = re.compile(r"\b(apt-get|apt|locale-gen|dpkg)\b|/etc/")  # spec commands that change the machine
CONDA_ONLY = frozenset({"python", "pip", "conda", "hdf5", "libnetcdf", "cdms2", "pynio", "iris", "cartopy", "nomkl"})
CONDA_TO_PIP = {"dask-core": "dask", "matplotlib-base": "matplotlib", "pytables": "tables", "pytorch": "torch"}
# Releases newer than SWE-bench's images that the old code cannot take (the specs pin only what broke then); every
# pip install of the repository's environments is constrained by these.
DRIFT: dict[str, tuple[str, ...]] = {
    "sphinx-doc/sphinx": ("docutils<0.22",),  # 0.22 dropped docutils.utils.roman, which Sphinx 3-7 import
}


class SweSetupError(SetupError, RuntimeError):
    """An instance cannot be set up: the message says what to change."""


class MirrorError(SweSetupError):
    """A repository's mirror is missing, or lacks a commit."""


class EnvBuildError(SweSetupError):
    """A test environment cannot be built."""


class SwebenchUnavailable(SweSetupError):
    """The swebench package cannot be found or installed."""


# --- swebench -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweBench:
    """What the harness takes from the swebench package (tests pass a stand-in)."""

    version: str
    specs: Mapping[str, Mapping[str, dict]]  # repo -> version -> spec (MAP_REPO_VERSION_TO_SPECS)
    parsers: Mapping[str, Callable[[str, Any], dict[str, str]]]  # repo -> log parser: (log, test_spec) -> statuses
    test_directives: Callable[[dict], list[str]]  # instance -> what the test command is given
    grade: Callable[[str, dict[str, str], list[str], list[str]], tuple[bool, dict]]  # repo, statuses, F2P, P2P
    reqs_paths: Mapping[str, list[str]] = field(default_factory=dict)  # repo -> its requirements files
    env_yml_paths: Mapping[str, list[str]] = field(default_factory=dict)  # repo -> its environment.yml files
    clean_requirements: Callable[[str], str] = lambda text: text


def swebench_package(where: Path | None = None, install: bool = True) -> Path:
    """The ``swebench`` package folder: ``where`` (a folder holding it, or the package itself), then
    ``$AUTONOMO_SWEBENCH``, then ``sys.path``, then the cache, where it is installed (``--no-deps``) when missing."""
    env = os.environ.get("AUTONOMO_SWEBENCH")
    target = CACHE / f"swebench-{SWEBENCH_VERSION}"
    chosen = where or (Path(env) if env else None)  # a folder named is the only one looked in
    candidates = [chosen] if chosen else []
    found = importlib.util.find_spec("swebench") if chosen is None else None  # runs no __init__
    if found and found.submodule_search_locations:
        candidates += [Path(p) for p in found.submodule_search_locations]
    if chosen is None:
        candidates.append(target)
    for c in candidates:
        for package in (c, c / "swebench"):
            if (package / "harness" / "constants" / "python.py").is_file():
                return package
    if chosen is not None or not install:
        tried = ", ".join(str(c) for c in candidates)
        raise SwebenchUnavailable(f"no swebench package with harness specs in {tried}: "
                                  f"pip install --no-deps --target DIR swebench=={SWEBENCH_VERSION}")  # fmt: skip
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                           f"swebench=={SWEBENCH_VERSION}"], capture_output=True, text=True)  # fmt: skip
    if proc.returncode != 0:
        raise SwebenchUnavailable(f"cannot install swebench=={SWEBENCH_VERSION} into {target}: "
                                  f"{last_line(proc.stderr + proc.stdout)}")  # fmt: skip
    return target / "swebench"


@functools.cache
def load_swebench(where: Path | None = None, install: bool = True) -> SweBench:
    """swebench's specs, Python log parsers, grading and test directives, loaded from its files with stand-ins for
    the modules that would import docker, datasets or requests; ``sys.modules`` is left as it was."""
    package = swebench_package(where, install)
    version_match = re.search(r"__version__\s*=\s*[\"']([^\"']+)", (package / "__init__.py").read_text())
    version = version_match.group(1) if version_match else "unknown"
    names = ("swebench", "requests")
    saved = {k: v for k, v in sys.modules.items() if k.split(".")[0] in names}
    for k in saved:
        del sys.modules[k]

    def stand_in(name: str, path: Path | None = None, **attrs: Any) -> types.ModuleType:
        module = types.ModuleType(name)
        if path is not None:
            module.__path__ = [str(path)]
        module.__dict__.update(attrs)
        sys.modules[name] = module
        return module

    harness = package / "harness"
    try:
        stand_in("swebench", package)
        stand_in("swebench.harness", harness)
        parsers_package = stand_in("swebench.harness.log_parsers", harness / "log_parsers")
        stand_in("swebench.harness.test_spec", harness / "test_spec")
        stand_in("swebench.harness.test_spec.test_spec", TestSpec=object)  # only a type hint of the parsers
        stand_in("swebench.harness.utils", get_modified_files=modified_files,
                 load_cached_environment_yml=lambda instance_id: None)  # fmt: skip
        stand_in("requests")  # test_spec.python fetches requirements from GitHub with it; the mirror is read here
        constants = importlib.import_module("swebench.harness.constants")
        parsers = importlib.import_module("swebench.harness.log_parsers.python")
        parsers_package.MAP_REPO_TO_PARSER = parsers.MAP_REPO_TO_PARSER_PY
        grading = importlib.import_module("swebench.harness.grading")
        spec_py = importlib.import_module("swebench.harness.test_spec.python")
    except (ImportError, AttributeError, SyntaxError) as exc:
        raise SwebenchUnavailable(f"swebench {version} in {package} is not the layout this harness reads "
                                  f"(use {SWEBENCH_VERSION}): {type(exc).__name__}: {exc}") from None  # fmt: skip
    finally:
        for k in [k for k in sys.modules if k.split(".")[0] in names]:
            del sys.modules[k]
        sys.modules.update(saved)

    def grade(repo: str, statuses: dict[str, str], f2p: list[str], p2p: list[str]) -> tuple[bool, dict]:
        kind = constants.EvalType.FAIL_ONLY if repo in constants.FAIL_ONLY_REPOS else constants.EvalType.PASS_AND_FAIL
        gold = {constants.FAIL_TO_PASS: f2p, constants.PASS_TO_PASS: p2p}
        report = grading.get_eval_tests_report(statuses, gold, eval_type=kind)
        return grading.get_resolution_status(report) == constants.ResolvedStatus.FULL.value, report

    return SweBench(
        version=version,
        specs=constants.MAP_REPO_VERSION_TO_SPECS,
        parsers=parsers.MAP_REPO_TO_PARSER_PY,
        test_directives=spec_py.get_test_directives,
        grade=grade,
        reqs_paths=constants.MAP_REPO_TO_REQS_PATHS,
        env_yml_paths=constants.MAP_REPO_TO_ENV_YML_PATHS,
        clean_requirements=spec_py.clean_requirements,
    )


def modified_files(patch: str) -> list[str]:
    """The files a patch changes that were there before it (swebench's ``get_modified_files``, without unidiff)."""
    return [f.path for f in patch_files(patch) if not f.new]


@dataclass(frozen=True)
class PatchFile:
    path: str
    new: bool  # the patch creates it


def patch_files(patch: str) -> list[PatchFile]:
    found = []
    for block in re.split(r"^(?=diff --git )", patch, flags=re.MULTILINE):
        head = re.match(r"diff --git a/(\S+) b/(\S+)", block)
        if head:
            new = bool(re.search(r"^(new file mode|--- /dev/null)", block, re.MULTILINE))
            found.append(PatchFile(head.group(2), new))
    return found


# --- environments ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweEnv:
    """An instance's test environment: a Python installation (shared by the instances of a repo and version),
    where a tree's code is imported from, and the files the install generates in a tree (``generated`` holds
    them, at their paths in the tree)."""

    root: Path
    import_roots: tuple[str, ...] = (".",)  # relative to a tree; "." is the tree itself
    generated: Path | None = None

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    def generated_files(self) -> list[str]:
        if self.generated is None or not self.generated.is_dir():
            return []
        return sorted(str(p.relative_to(self.generated)) for p in self.generated.rglob("*") if p.is_file())

    def prefix(self) -> str:
        """Variable settings that make a command in a tree use this environment and the tree's code."""
        roots = ":".join('"$PWD"' if r == "." else f'"$PWD"/{shlex.quote(r)}' for r in self.import_roots)
        return f'PATH={shlex.quote(str(self.root / "bin"))}:"$PATH" PYTHONPATH={roots}'

    def add_generated(self, tree: Path) -> None:
        for rel in self.generated_files():
            target = tree / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.generated / rel, target)  # type: ignore[operator]


EnvBuilder = Callable[["SweTask"], SweEnv]


def env_key(repo: str, version: str) -> str:
    return f"{repo.replace('/', '__')}__{version}"


@dataclass
class EnvCache:
    """Builds environments under ``root`` as SWE-bench builds its images: once per (repo, version) the
    environment (``root/<owner>__<name>__<version>``: Python, ``packages``, ``pip_packages``), and once per
    base commit the repository's install at that commit in it (``pre_install``, ``install``; recorded under the
    environment's ``instances/``). One build at a time per environment (a file lock): parallel attempts wait for
    it instead of doing it twice. Logs: ``root/<key>.log``."""

    root: Path = ENVS

    def __call__(self, task: SweTask) -> SweEnv:
        key = env_key(task.repo, task.version)
        env_root = self.root / key
        layer = env_root / "instances" / task.base_commit
        found = read_layer(env_root, layer)
        if found:
            return found
        self.root.mkdir(parents=True, exist_ok=True)
        log = self.root / f"{key}.log"
        with open(self.root / f"{key}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (env_root / ENV_FILE).is_file():
                if env_root.exists():  # a build that was killed
                    shutil.rmtree(env_root)
                log.write_text("")
                try:
                    build_env(task, env_root, log)
                except BaseException:
                    shutil.rmtree(env_root, ignore_errors=True)
                    raise
            found = read_layer(env_root, layer)
            if found:
                return found
            try:
                return install_layer(task, env_root, layer, log)
            except BaseException:
                shutil.rmtree(layer, ignore_errors=True)
                raise


def read_layer(env_root: Path, layer: Path) -> SweEnv | None:
    try:
        data = json.loads((layer / ENV_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return SweEnv(env_root, tuple(data.get("import_roots") or (".",)), layer / "generated")


def find_python(version: str) -> Path:
    """The newest pyenv Python ``version.*`` (``$PYENV_ROOT``, ``~/.pyenv``), else ``python<version>`` on PATH."""
    versions = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    found = []
    for p in versions.glob(f"{version}.*") if versions.is_dir() else ():
        patch = p.name[len(version) + 1 :]
        if patch.isdigit() and (p / "bin" / "python").exists():
            found.append((int(patch), p / "bin" / "python"))
    if found:
        return max(found)[1]
    which = shutil.which(f"python{version}")
    if which:
        return Path(which)
    raise EnvBuildError(f"no Python {version} found (looked in {versions} and PATH): pyenv install {version}")


def make_interpreter(python: Path, root: Path, step: Callable[..., None]) -> None:
    """A Python installation of its own in ``root``, as a conda environment is: a copy of the pyenv installation
    (without its site-packages and its own test suite; 85 MB, a second), pip from ensurepip. Not a virtual
    environment: a symbolic link to a venv's python leaves the venv (tox-current-env, which Sphinx's test command
    uses, runs its commands through such a link). A Python from elsewhere (/usr/bin) gets a venv."""
    home = python.resolve().parent.parent
    lib = home / "lib" / f"python{python_version(python)}"
    if not (lib / "os.py").is_file() or home in (Path("/"), Path("/usr"), Path("/usr/local")):
        step([str(python), "-m", "venv", str(root)], cwd=root.parent)
        return

    def ignored(folder: str, names: list[str]) -> list[str]:
        if Path(folder) == lib:
            return [n for n in names if n in ("test", "site-packages")]
        return [n for n in names if n == "__pycache__"]

    shutil.copytree(home, root, symlinks=True, ignore=ignored)
    (root / lib.relative_to(home) / "site-packages").mkdir()
    for script in root.glob("bin/*"):  # pyenv's own scripts name its interpreter; pip writes them anew
        if script.name.startswith(("pip", "easy_install")):
            script.unlink()
    step([str(root / "bin" / "python"), "-m", "ensurepip", "--upgrade"], cwd=root)


def python_version(python: Path) -> str:
    m = re.search(r"python(\d+\.\d+)$", python.resolve().name)
    if m:
        return m.group(1)
    out = subprocess.run([str(python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                         capture_output=True, text=True, timeout=60).stdout.strip()  # fmt: skip
    return out


def pip_install(root: Path) -> list[str]:
    constraints = root / "constraints.txt"
    pins = ["-c", str(constraints)] if constraints.is_file() else []
    return [str(root / "bin" / "python"), "-m", "pip", "install", "--no-input", *pins]


def build_env(task: SweTask, root: Path, log: Path) -> None:
    """The environment of ``task``'s (repo, version) in ``root``, as SWE-bench's environment image: Python,
    the spec's ``packages`` (read at environment_setup_commit) and ``pip_packages``."""
    spec, repo = task.spec, task.repo
    task.require_commit(task.environment_setup_commit, "environment_setup_commit")
    python = find_python(str(spec.get("python", "3.9")))
    step = functools.partial(run_step, log=log, what=f"{repo} {task.version}")
    make_interpreter(python, root, step)
    if DRIFT.get(repo):
        (root / "constraints.txt").write_text("".join(f"{pin}\n" for pin in DRIFT[repo]))
    pip = pip_install(root)
    step([*pip, "-U", BOOTSTRAP[0]], cwd=root)  # first pip alone: Python 3.6's pip 18 would take a wheel for 3.9
    step([*pip, "-U", *BOOTSTRAP[1:]], cwd=root)
    skipped: list[str] = []
    with tempfile.TemporaryDirectory(prefix="swe-env-") as tmp:
        checkout = Path(tmp) / "src"
        fresh_checkout(task.mirror, task.environment_setup_commit, checkout)
        for text in conda_packages(task, checkout):
            lines = [line for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
            if not lines:
                continue
            reqs = root / "requirements.txt"
            reqs.write_text("\n".join(lines) + "\n")
            try:
                step([*pip, "-r", str(reqs)], cwd=checkout)
            except EnvBuildError:  # one by one: a requirement pip cannot install here is left out, and listed
                for line in lines:
                    try:
                        step([*pip, line.split(" #")[0].strip()], cwd=checkout)
                    except EnvBuildError:
                        skipped.append(line.strip())
    if spec.get("pip_packages"):
        step([*pip, *spec["pip_packages"]], cwd=root)
    data = {"repo": repo, "version": task.version, "python": str(python), "swebench": task.swebench.version,
            "spec": spec, "skipped_requirements": skipped, "built": time.strftime("%Y-%m-%d %H:%M:%S")}  # fmt: skip
    write_atomic(root / ENV_FILE, json.dumps(data, indent=1) + "\n")


def install_layer(task: SweTask, root: Path, layer: Path, log: Path) -> SweEnv:
    """The repository's install at ``task``'s base commit in the environment, as SWE-bench's instance image:
    ``pre_install`` and ``install`` in a checkout of it. Its path hooks are then taken out (the tests import the
    tree's code), and the files it generated in the checkout kept in ``layer/generated``."""
    spec = task.spec
    step = functools.partial(run_step, log=log, what=f"{task.repo} {task.version}")
    shell_env = {**clean_env(), "PATH": f"{root / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
    if (root / "constraints.txt").is_file():
        shell_env["PIP_CONSTRAINT"] = str(root / "constraints.txt")
    with tempfile.TemporaryDirectory(prefix="swe-install-") as tmp:
        checkout = Path(tmp) / "src"
        fresh_checkout(task.mirror, task.base_commit, checkout)
        # Tags, for setuptools_scm's version of the project (pytest's minversion checks read it).
        git(checkout, "fetch", "-q", "--no-tags", str(task.mirror.resolve()), "+refs/tags/*:refs/tags/*", check=False)
        for command in [*spec.get("pre_install", []), spec.get("install", "")]:
            if command and not SYSTEM_COMMAND.search(command):
                step(["bash", "-c", command], cwd=checkout, env=shell_env)
        roots = unhook(root, checkout)
        generated = generated_files(checkout)
        if layer.exists():
            shutil.rmtree(layer)
        for rel in generated:
            target = layer / "generated" / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(checkout / rel, target)
    layer.mkdir(parents=True, exist_ok=True)
    data = {"instance_id": task.id, "base_commit": task.base_commit, "import_roots": roots, "generated": generated,
            "installed": time.strftime("%Y-%m-%d %H:%M:%S")}  # fmt: skip
    write_atomic(layer / ENV_FILE, json.dumps(data, indent=1) + "\n")
    return SweEnv(root, tuple(roots), layer / "generated")


def conda_packages(task: SweTask, checkout: Path) -> list[str]:
    """The spec's ``packages`` as requirement texts for pip: the repository's requirements file at the checkout
    (swebench reads it from GitHub at environment_setup_commit), an environment.yml's dependencies, or names."""
    packages = task.spec.get("packages", "")
    if not packages:
        return []
    if packages == "requirements.txt":
        return [task.swebench.clean_requirements(requirements_text(checkout, task.swebench.reqs_paths[task.repo]))]
    if packages == "environment.yml":
        for rel in task.swebench.env_yml_paths.get(task.repo, []):
            if (checkout / rel).is_file():
                return ["\n".join(yml_requirements((checkout / rel).read_text()))]
        raise EnvBuildError(f"no environment.yml for {task.repo} {task.version} at {task.environment_setup_commit}")
    return ["\n".join(pip_name(n) for n in packages.split() if n not in CONDA_ONLY)]


def requirements_text(checkout: Path, paths: Iterable[str]) -> str:
    """swebench's ``get_requirements_by_commit``, from the checkout: the first requirements file there, its ``-r``
    includes first, without ``-e .``, comments and ``.[test`` lines."""
    for rel in paths:
        path = checkout / rel
        if path.is_file():
            break
    else:
        raise EnvBuildError(f"no requirements file in {checkout} (looked for {', '.join(paths)})")

    def kept(line: str) -> bool:
        return not line.strip().startswith(("-e .", "#", ".[test"))

    original, additional = [], []
    for line in path.read_text().splitlines():
        if line.strip().startswith("-r"):
            included = path.parent / line.strip()[2:].strip()
            if included.is_file():
                additional += [x for x in included.read_text().splitlines() if kept(x)]
        elif kept(line):
            original.append(line)
    return "\n".join([*additional, "\n".join(original)])


def yml_requirements(text: str) -> list[str]:
    """A conda environment.yml's dependencies (and its pip section) as pip requirements: conda's ``name=1.2``
    pins become ``==``, conda-only packages are left out."""
    reqs = []
    for line in text.splitlines():
        m = re.match(r"^\s*-\s+([A-Za-z0-9_.\-]+)\s*(.*?)\s*(#.*)?$", line)
        if not m or m.group(1) in CONDA_ONLY or m.group(1).endswith(":"):
            continue
        name, pin = pip_name(m.group(1)), m.group(2).replace(" ", "")
        if re.fullmatch(r"=[^=<>!].*", pin):
            pin = "=" + pin
        reqs.append(name + pin)
    return reqs


def pip_name(conda_name: str) -> str:
    return CONDA_TO_PIP.get(conda_name, conda_name)


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}


def run_step(argv: list[str], cwd: Path, log: Path, what: str, env: dict[str, str] | None = None) -> None:
    """One build command, its output appended to ``log``; a failure is an EnvBuildError naming the command, the
    last line it printed (pip's ERROR line) and the log."""
    shown = " ".join(shlex.quote(a) for a in argv)
    with open(log, "a", encoding="utf-8") as f:
        f.write(f"\n$ {shown}\n")
        f.flush()
        try:
            proc = subprocess.run(argv, cwd=cwd, env=env or clean_env(), stdin=subprocess.DEVNULL, stdout=f,
                                  stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT)  # fmt: skip
        except subprocess.TimeoutExpired:
            raise EnvBuildError(f"cannot build the {what} environment: `{shown}` ran past {BUILD_TIMEOUT:g} s "
                                f"(log: {log})") from None  # fmt: skip
    if proc.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-20_000:]
        raise EnvBuildError(f"cannot build the {what} environment: `{shorten(shown)}` failed: {last_line(tail)} "
                            f"(log: {log})")  # fmt: skip


def shorten(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def last_line(output: str) -> str:
    """The line that says why: pip's last ``ERROR:`` line, else the last line printed."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR:") and "dependency resolver" not in line]
    return shorten((errors or lines or ["(no output)"])[-1], 300)


def site_packages(root: Path) -> Path:
    found = sorted(root.glob("lib/python*/site-packages"))
    if not found:
        raise EnvBuildError(f"no site-packages in {root}")
    return found[0]


def unhook(root: Path, checkout: Path) -> list[str]:
    """Takes out the path hooks an editable install of ``checkout`` left in the environment (``.egg-link`` files
    and their ``easy-install.pth`` lines, ``__editable__`` .pth files and finders, flit's .pth), so that the
    environment imports no code of that checkout; moves its ``.egg-info`` into site-packages so that its metadata
    stays. Returns where the checkout's code was imported from, relative to it ("." when nothing said)."""
    site = site_packages(root)
    source = checkout.resolve()
    roots: list[str] = []

    def inside(path: str) -> str | None:
        p = Path(path.strip())
        if not p.is_absolute():
            p = site / p
        try:
            rel = p.resolve().relative_to(source)
        except ValueError:
            return None
        return str(rel) if str(rel) != "." else "."

    for link in site.glob("*.egg-link"):
        rel = inside(link.read_text().splitlines()[0]) if link.read_text().strip() else None
        if rel is None:
            continue
        roots.append(rel)
        for info in (checkout / rel).glob("*.egg-info"):
            shutil.copytree(info, site / info.name, dirs_exist_ok=True)
        link.unlink()
    for pth in site.glob("*.pth"):
        kept = []
        for line in pth.read_text().splitlines():
            finder = re.match(r"import (__editable___\w+_finder)", line)
            if finder and (site / f"{finder.group(1)}.py").is_file():
                module = site / f"{finder.group(1)}.py"
                paths = finder_mapping(module.read_text())
                found = [inside(str(Path(p).parent)) for p in paths.values()]
                if found and all(r is not None for r in found):
                    roots += [r for r in found if r is not None]
                    module.unlink()
                    continue
            rel = None if line.startswith(("import", "#")) or not line.strip() else inside(line)
            if rel is None:
                kept.append(line)
            else:
                roots.append(rel)
        if kept == pth.read_text().splitlines():
            continue
        if any(k.strip() and not k.startswith("#") for k in kept):
            pth.write_text("\n".join(kept) + "\n")
        else:
            pth.unlink()
    return list(dict.fromkeys(roots)) or ["."]


def finder_mapping(source: str) -> dict[str, str]:
    """The ``MAPPING`` (top-level name -> path) of setuptools' ``__editable___*_finder.py``."""
    for node in ast.parse(source).body:
        target = node.target if isinstance(node, ast.AnnAssign) else (node.targets[0] if isinstance(node, ast.Assign)
                                                                        else None)  # fmt: skip
        if isinstance(target, ast.Name) and target.id == "MAPPING" and node.value is not None:
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                return {}
            return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}
    return {}


JUNK = re.compile(r"(^|/)(__pycache__|\.eggs|build|dist|\.tox|\.pytest_cache)(/|$)|\.egg-info(/|$)|\.pyc$")


def generated_files(checkout: Path) -> list[str]:
    """Files the install wrote into the checkout that git ignores or does not track (setuptools_scm's
    ``_version.py``), but build folders, metadata and bytecode."""
    out = git(checkout, "status", "--porcelain", "--ignored", "--untracked-files=all", "-z")
    paths = [entry[3:] for entry in out.split("\0") if entry[:2] in ("!!", "??")]
    return sorted(p for p in paths if not JUNK.search(p) and (checkout / p).is_file())


# --- checkouts ------------------------------------------------------------------------------------------------------


def mirror_path(mirrors: Path, repo: str) -> Path:
    """Where the mirror of ``owner/name`` lies: ``MIRRORS/owner__name.git``."""
    return mirrors / f"{repo.replace('/', '__')}.git"


def fresh_checkout(mirror: Path, commit: str, dest: Path) -> None:
    """``dest``: a git repository with one branch, ``main``, at ``commit``, borrowing the mirror's objects."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    objects = git(mirror, "rev-parse", "--path-format=absolute", "--git-path", "objects").strip()
    git(dest, "init", "-q", "-b", "main")
    (dest / ".git" / "objects" / "info" / "alternates").write_text(objects + "\n")
    git(dest, "reset", "-q", "--hard", commit)


def tree_patch(tree: Path, base: str, exclude: Iterable[str] = ()) -> str:
    """What ``tree`` changed since ``base``: committed or not, new files included, ignored files and test
    leftovers not (a copy of its index takes the new files, so its own index is untouched)."""
    index = Path(git(tree, "rev-parse", "--path-format=absolute", "--git-path", "index").strip())
    specs = ["--", ".", *LEFT_OUT]
    # The generated files are excluded from the diff only: git add refuses a pathspec naming an ignored file.
    diff_specs = [*specs, *(f":(exclude){p}" for p in exclude)]
    with tempfile.TemporaryDirectory() as tmp:
        temp = Path(tmp) / "index"
        if index.is_file():
            shutil.copyfile(index, temp)
        env = {**os.environ, "GIT_INDEX_FILE": str(temp)}
        for args in (["add", "-A", *specs], ["diff", "--cached", "--binary", base, *diff_specs]):
            proc = subprocess.run(["git", *IDENTITY, *args], cwd=tree, env=env, capture_output=True, text=True,
                                  timeout=300)  # fmt: skip
            if proc.returncode != 0:
                raise SweSetupError(f"cannot read the changes in {tree}: git {args[0]}: {last_line(proc.stderr)}")
    return proc.stdout


def apply_patch(tree: Path, patch: str) -> str | None:
    """Applies ``patch`` in ``tree``; None when it applied, else why not."""
    if not patch.strip():
        return None
    proc = subprocess.run(["git", "apply", "--binary", "--whitespace=nowarn", "-"], cwd=tree, input=patch,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    return None if proc.returncode == 0 else last_line(proc.stderr + proc.stdout)


# --- tasks ----------------------------------------------------------------------------------------------------------


@dataclass
class Evaluation:
    score: Score
    output: str  # the test command's log
    statuses: dict[str, str]
    report: dict = field(default_factory=dict)


@dataclass
class SweTask:
    """One SWE-bench instance. ``goal`` is its problem statement alone; ``patch``, ``test_patch``,
    ``fail_to_pass`` and ``pass_to_pass`` are scoring material, never written into a workspace."""

    id: str
    goal: str
    repo: str
    version: str
    base_commit: str
    environment_setup_commit: str
    mirror: Path
    swebench: SweBench = field(repr=False)
    env_builder: EnvBuilder = field(repr=False)
    test_patch: str = field(repr=False, default="")
    patch: str = field(repr=False, default="")
    fail_to_pass: list[str] = field(repr=False, default_factory=list)
    pass_to_pass: list[str] = field(repr=False, default_factory=list)
    # What the agent's runs use: the environment's test command on the test_patch's files that exist at
    # base_commit (None when none do). Known once the environment is built: prepare() sets it.
    test_command: str | None = None
    _env: SweEnv | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def from_row(cls, row: dict, mirrors: Path, swebench: SweBench, env_builder: EnvBuilder) -> SweTask:
        def tests(value: Any) -> list[str]:
            return json.loads(value) if isinstance(value, str) else list(value)

        return cls(
            id=row["instance_id"],
            goal=row["problem_statement"],
            repo=row["repo"],
            version=str(row["version"]),
            base_commit=row["base_commit"],
            environment_setup_commit=row.get("environment_setup_commit") or row["base_commit"],
            mirror=mirror_path(mirrors, row["repo"]),
            swebench=swebench,
            env_builder=env_builder,
            test_patch=row["test_patch"],
            patch=row.get("patch", ""),
            fail_to_pass=tests(row["FAIL_TO_PASS"]),
            pass_to_pass=tests(row["PASS_TO_PASS"]),
        )

    @property
    def spec(self) -> dict:
        try:
            return dict(self.swebench.specs[self.repo][self.version])
        except KeyError:
            what = f"{self.repo} {self.version}"
            raise SweSetupError(f"swebench {self.swebench.version} has no spec for {what}") from None

    def require_commit(self, commit: str, what: str = "base_commit") -> None:
        if not self.mirror.exists():
            raise MirrorError(f"no mirror of {self.repo} at {self.mirror} (a bare clone: git clone --bare "
                              f"https://github.com/{self.repo} {self.mirror})")  # fmt: skip
        found = subprocess.run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=self.mirror,
                               capture_output=True)  # fmt: skip
        if found.returncode != 0:
            raise MirrorError(f"{what} {commit[:12]} of {self.id} is not in the mirror {self.mirror}: fetch it")

    def env(self) -> SweEnv:
        """The instance's test environment, built on first use (cached per repo and version)."""
        if self._env is None:
            _ = self.spec  # an instance without a spec fails before any build
            self._env = self.env_builder(self)
        return self._env

    def prepare(self, workspace: Path) -> None:
        """The workspace: a git repository at base_commit (branch ``main``, no other ref), the spec's pre_install
        changes committed on top when it has any (SWE-bench's images commit them too), the files the install
        generates copied in (and excluded from git); the environment built."""
        self.require_commit(self.base_commit)
        env = self.env()
        fresh_checkout(self.mirror, self.base_commit, workspace)
        if self.pre_install(workspace):
            git(workspace, "add", "-A")
            git(workspace, "commit", "-q", "--no-verify", "-m", "SWE-bench environment set-up (pre_install)")
        env.add_generated(workspace)
        generated = env.generated_files()
        if generated:
            with open(workspace / ".git" / "info" / "exclude", "a", encoding="utf-8") as f:
                f.write("".join(f"/{p}\n" for p in generated))
        self.test_command = self.command(env, [p.path for p in patch_files(self.test_patch)
                                               if (workspace / p.path).is_file()])  # fmt: skip

    def pre_install(self, tree: Path) -> bool:
        """Runs the spec's pre_install commands in ``tree`` (not those that change the machine); whether any
        tracked file changed."""
        commands = [c for c in self.spec.get("pre_install", []) if not SYSTEM_COMMAND.search(c)]
        for command in commands:
            subprocess.run(["bash", "-c", command], cwd=tree, env=clean_env(), capture_output=True, timeout=300)
        return bool(commands) and bool(git(tree, "status", "--porcelain", "--untracked-files=no").strip())

    def command(self, env: SweEnv, files: list[str]) -> str | None:
        """The spec's test command on the directives of ``files`` (as swebench makes them from a test_patch)."""
        if not files:
            return None
        headers = "".join(f"diff --git a/{p} b/{p}\n" for p in files)
        directives = self.swebench.test_directives({"repo": self.repo, "test_patch": headers,
                                                    "instance_id": self.id})  # fmt: skip
        if not directives:
            return None
        test_cmd = self.spec["test_cmd"]
        test_cmd = test_cmd[-1] if isinstance(test_cmd, list) else test_cmd
        return " ".join([env.prefix(), *self.eval_settings(), test_cmd, *directives])

    def eval_settings(self) -> list[str]:
        """The ``export`` lines of the spec's eval_commands, as settings (en_US.UTF-8 is C.UTF-8 where the former
        is not installed)."""
        settings = []
        for command in self.spec.get("eval_commands", []):
            m = re.fullmatch(r"export\s+(\w+)=(.*)", command.strip())
            if m:
                value = m.group(2).strip("'\"")
                if "en_US.UTF-8" in value and not has_locale("en_US.utf8"):
                    value = value.replace("en_US.UTF-8", "C.UTF-8")
                settings.append(f"{m.group(1)}={shlex.quote(value)}")
        return settings

    def score(self, tree: Path, scratch: Path, sandbox: str = "bwrap") -> Score:
        """Scores the agent's result in ``tree`` (a git repository holding base_commit, as prepare() made it):
        its changes since base_commit, applied to a fresh checkout in ``scratch``, tested as SWE-bench tests.
        The test log is kept beside scratch (``<scratch>.log``)."""
        env = self.env()
        patch = tree_patch(tree, self.base_commit, exclude=env.generated_files())
        return self.evaluate(patch, scratch, sandbox, pre_install=False).score

    def score_patch(self, patch: str, scratch: Path, sandbox: str = "bwrap") -> Score:
        """Scores a patch against base_commit (the gold patch, a model's prediction): the pre_install changes
        first, as in SWE-bench's images."""
        return self.evaluate(patch, scratch, sandbox, pre_install=True).score

    def evaluate(self, patch: str, scratch: Path, sandbox: str = "bwrap", pre_install: bool = True) -> Evaluation:
        self.require_commit(self.base_commit)
        env = self.env()
        fresh_checkout(self.mirror, self.base_commit, scratch)
        if pre_install:
            self.pre_install(scratch)
        failed = apply_patch(scratch, patch)
        if failed:
            return Evaluation(Score(False, f"the patch does not apply: {failed}"), "", {})
        env.add_generated(scratch)
        touched = patch_files(self.test_patch)
        at_base = [p.path for p in touched if not p.new]
        if at_base:
            git(scratch, "checkout", "-q", self.base_commit, "--", *at_base)
        for p in touched:
            if p.new and (scratch / p.path).is_file():
                (scratch / p.path).unlink()
        failed = apply_patch(scratch, self.test_patch)
        if failed:
            return Evaluation(Score(False, f"the test patch does not apply: {failed}"), "", {})
        command = self.command(env, [p.path for p in touched])
        if command is None:
            return Evaluation(Score(False, "the test patch names no test file"), "", {})
        box = Sandbox(scratch, kind=sandbox, timeout=SCORE_TIMEOUT, output_limit=OUTPUT_LIMIT,
                      limits=Limits(memory_mb=8192, processes=512))  # fmt: skip
        result = box.run(command)
        log = f"$ {command}\n{result.output}"
        write_atomic(scratch.with_name(scratch.name + ".log"), log)
        if result.timed_out:
            return Evaluation(Score(False, "timed out"), result.output, {})
        statuses = self.swebench.parsers[self.repo](result.output, None)
        resolved, report = self.swebench.grade(self.repo, statuses, self.fail_to_pass, self.pass_to_pass)
        return Evaluation(Score(resolved, summary(report, self.fail_to_pass, self.pass_to_pass)), result.output,
                          statuses, report)  # fmt: skip


def summary(report: dict, f2p: list[str], p2p: list[str]) -> str:
    fixed = report.get("FAIL_TO_PASS", {}).get("success", [])
    kept = report.get("PASS_TO_PASS", {}).get("success", [])
    failing = report.get("FAIL_TO_PASS", {}).get("failure", []) + report.get("PASS_TO_PASS", {}).get("failure", [])
    text = f"{len(fixed)}/{len(f2p)} FAIL_TO_PASS, {len(kept)}/{len(p2p)} PASS_TO_PASS"
    return text + (f"; failing: {', '.join(failing[:3])}" + (" ..." if len(failing) > 3 else "") if failing else "")


@functools.cache
def has_locale(name: str) -> bool:
    try:
        out = subprocess.run(["locale", "-a"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return name.lower() in {line.strip().lower() for line in out.splitlines()}


def load_swe_tasks(path: Path, mirrors: Path, subset: str | None = "dev30", limit: int | None = None,
                   swebench: SweBench | None = None, env_builder: EnvBuilder | None = None,
                   ids: Iterable[str] = ()) -> list[SweTask]:  # fmt: skip
    """The instances of ``path`` (SWE-bench's fields, one a line) in ``subset`` (None: all), or those named in
    ``ids``; the mirrors are looked for only when an instance is prepared or scored."""
    if not path.is_file():
        raise TaskFileError(f"task file not found: {path}")
    swebench = swebench or load_swebench()
    env_builder = env_builder or EnvCache()
    wanted = set(ids)
    tasks = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if wanted and row["instance_id"] not in wanted:
                continue
            if not wanted and subset is not None and subset not in row.get("subsets", []):
                continue
            tasks.append(SweTask.from_row(row, mirrors, swebench, env_builder))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise TaskFileError(f"{path}:{n}: not a SWE-bench instance ({type(exc).__name__}: {exc})") from None
    return tasks[:limit] if limit else tasks


def verify_harness(tasks: Iterable[SweTask], out: Path, log: Callable[[str], None] = print,
                   sandbox: str = "bwrap") -> list[dict]:  # fmt: skip
    """Checks the harness on each instance: its gold patch must resolve it and no patch must not. Rows (also in
    ``out/verify.jsonl``, the test logs in ``out/<id>/``): instance_id, gold_resolved, empty_resolved,
    setup_error, seconds, and the two scores' summaries."""
    tasks = list(tasks)
    rows: list[dict] = []
    out.mkdir(parents=True, exist_ok=True)
    for i, task in enumerate(tasks, 1):
        start = time.monotonic()
        row: dict[str, Any] = {"instance_id": task.id, "gold_resolved": None, "empty_resolved": None,
                               "setup_error": None}  # fmt: skip
        folder = out / slug(task.id)
        try:
            task.env()
            built = time.monotonic()
            for name, patch in (("gold", task.patch), ("empty", "")):
                scratch = folder / name
                score = task.score_patch(patch, scratch, sandbox=sandbox)
                row[f"{name}_resolved"], row[f"{name}_summary"] = score.passed, score.summary
                shutil.rmtree(scratch, ignore_errors=True)
            row["env_seconds"] = round(built - start, 1)
        except SetupError as exc:
            row["setup_error"] = str(exc)
        row["seconds"] = round(time.monotonic() - start, 1)
        row["ok"] = row["gold_resolved"] is True and row["empty_resolved"] is False
        rows.append(row)
        write_atomic(out / "verify.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
        mark = "ok" if row["ok"] else "PROBLEM"
        detail = row["setup_error"] or (f"gold {'resolves' if row['gold_resolved'] else 'does NOT resolve'} "
                                        f"({row.get('gold_summary')}), empty "
                                        f"{'resolves' if row['empty_resolved'] else 'does not resolve'}")  # fmt: skip
        log(f"[swe verify {i}/{len(tasks)}] {task.id}: {mark} · {detail} · {row['seconds']:.0f}s")
    return rows
