"""Lint as tests: the images, workflows, compose file, scripts and manifests that cannot all run here
(no GPU, no Docker engine, no cluster) must at least be valid, so a broken one fails CI."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github/workflows").glob("*.yml"))
SCRIPTS = [ROOT / ".ci/run", *sorted((ROOT / "docker").glob("*.sh")), *sorted((ROOT / "deploy/slurm").iterdir())]
MANIFESTS = sorted((ROOT / "deploy/k8s").glob("*.yaml"))
# The current majors of GitHub's own actions (the Node 20 ones are deprecated).
CURRENT_MAJOR = {"actions/checkout": 6, "actions/setup-python": 6, "actions/upload-artifact": 7,
                 "actions/download-artifact": 8, "actions/configure-pages": 6,
                 "actions/upload-pages-artifact": 5, "actions/deploy-pages": 5}


def tool(name: str) -> str:
    """A lint tool of the `test` extra, from this venv first."""
    path = Path(sys.executable).parent / name
    found = str(path) if path.exists() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]' (or make venv)")
    return found


def check(*args: str | Path) -> None:
    out = subprocess.run([str(a) for a in args], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"{' '.join(map(str, args))} failed:\n{out.stdout}\n{out.stderr}"


@pytest.mark.parametrize("dockerfile", ["docker/Dockerfile.cpu", "docker/Dockerfile.cuda"])
def test_hadolint(dockerfile):
    check(tool("hadolint"), dockerfile)


def test_actionlint():
    check(tool("actionlint"))


@pytest.mark.parametrize("schema, files", [
    ("vendor.github-workflows", WORKFLOWS),
    ("vendor.compose-spec", [ROOT / "docker/compose.yaml"]),
    ("vendor.dependabot", [ROOT / ".github/dependabot.yml"]),
])
def test_schemas(schema, files):
    assert files
    check(tool("check-jsonschema"), "--builtin-schema", schema, *files)


def test_zizmor():
    check(tool("zizmor"), "--offline", "--no-progress", ".github/workflows")


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_shellcheck(script):
    check(tool("shellcheck"), script)
    assert os.access(script, os.X_OK), f"{script} is not executable"


def test_kubernetes_manifests():
    """Strict validation (unknown fields are errors) against the Kubernetes JSON schemas that
    kubernetes-validate ships, generated from the upstream OpenAPI spec."""
    check(tool("kubernetes-validate"), "--strict", *MANIFESTS)


def test_indexed_job_is_consistent():
    job = yaml.safe_load((ROOT / "deploy/k8s/study-job.yaml").read_text())
    spec, pod = job["spec"], job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    shard = container["args"][container["args"].index("--shard") + 1]
    assert spec["completionMode"] == "Indexed"
    assert shard == f"JOB_COMPLETION_INDEX/{spec['completions']}", "completions and --shard N disagree"
    assert 1 <= spec["parallelism"] <= spec["completions"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["data"]["readOnly"] is True
    assert mounts["results"]["subPathExpr"] == "shard-$(SHARD_INDEX)"


def test_requirements_match_pyproject():
    check(sys.executable, "docker/pins.py", "--check")


def test_actions_are_current_majors():
    for workflow in WORKFLOWS:
        for action, ref in re.findall(r"uses:\s*(actions/[\w-]+)@(\S+)", workflow.read_text()):
            assert action in CURRENT_MAJOR, f"{workflow.name}: {action} has no known current major here"
            want = f"v{CURRENT_MAJOR[action]}"
            assert ref == want, f"{workflow.name}: {action}@{ref}, the current major is {want}"


def test_checkouts_do_not_keep_credentials():
    for workflow in WORKFLOWS:
        for job in yaml.safe_load(workflow.read_text())["jobs"].values():
            for step in job.get("steps", []):
                if step.get("uses", "").startswith("actions/checkout@"):
                    assert step.get("with", {}).get("persist-credentials") is False, workflow.name


def test_pages_only_renders_and_deploy_alone_may_write():
    pages = yaml.safe_load((ROOT / ".github/workflows/pages.yml").read_text())
    assert pages["permissions"] == {} and pages["concurrency"]["group"] == "pages"
    jobs = pages["jobs"]
    assert jobs["build"]["permissions"] == {"contents": "read"}
    assert jobs["deploy"]["permissions"] == {"pages": "write", "id-token": "write"}
    runs = " ".join(step.get("run", "") for job in jobs.values() for step in job.get("steps", []))
    assert "bench report" in runs and "bench run" not in runs and "make bench" not in runs


def test_cuda_entrypoint_refuses_without_gpu(tmp_path):
    """The CUDA image's entry point, run here with this venv's torch: one line and exit 1 when no GPU."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible; the refusal cannot be shown")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    out = subprocess.run([str(ROOT / "docker/cuda-entrypoint.sh"), "--version"], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 1 and out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1 and "no CUDA GPU is visible" in out.stderr
    out = subprocess.run([str(ROOT / "docker/cuda-entrypoint.sh"), "--version"], capture_output=True, text=True,
                         env={**env, "BENCH_SKIP_GPU_CHECK": "1"}, timeout=120)
    assert out.returncode == 0, out.stderr
