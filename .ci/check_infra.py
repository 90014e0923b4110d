"""The rules for the workflows, scripts and Kubernetes job that no linter of `make lint` knows: each
broken rule is one line, and the exit status is 1 when any is broken. Run by `make lint`."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github/workflows").glob("*.yml"))
SCRIPTS = [ROOT / ".ci/run", *sorted((ROOT / "docker").glob("*.sh")), *sorted((ROOT / "deploy/slurm").iterdir())]
# The current majors of GitHub's own actions (the Node 20 ones are deprecated).
CURRENT_MAJOR = {"actions/checkout": 6, "actions/setup-python": 6, "actions/upload-artifact": 7,
                 "actions/download-artifact": 8, "actions/configure-pages": 6,
                 "actions/upload-pages-artifact": 5, "actions/deploy-pages": 5}


def scripts_are_executable() -> list[str]:
    return [f"{p.relative_to(ROOT)} is not executable" for p in SCRIPTS if not os.access(p, os.X_OK)]


def indexed_job_is_consistent() -> list[str]:
    """deploy/k8s/study-job.yaml: one shard per completion index, one GPU a pod, data read-only, and
    each shard's store in a folder of its own."""
    job = yaml.safe_load((ROOT / "deploy/k8s/study-job.yaml").read_text())
    spec, pod = job["spec"], job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    shard = container["args"][container["args"].index("--shard") + 1]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    rules = {"completionMode is Indexed": spec["completionMode"] == "Indexed",
             "--shard N is completions": shard == f"JOB_COMPLETION_INDEX/{spec['completions']}",
             "1 <= parallelism <= completions": 1 <= spec["parallelism"] <= spec["completions"],
             "one GPU a pod": container["resources"]["limits"]["nvidia.com/gpu"] == 1,
             "data is mounted read-only": mounts["data"]["readOnly"] is True,
             "results go to shard-$(SHARD_INDEX)": mounts["results"]["subPathExpr"] == "shard-$(SHARD_INDEX)"}
    return [f"deploy/k8s/study-job.yaml: not {rule}" for rule, holds in rules.items() if not holds]


def actions_are_current_majors() -> list[str]:
    broken = []
    for workflow in WORKFLOWS:
        for action, ref in re.findall(r"uses:\s*(actions/[\w-]+)@(\S+)", workflow.read_text()):
            if action not in CURRENT_MAJOR:
                broken.append(f"{workflow.name}: {action} has no known current major here")
            elif ref != f"v{CURRENT_MAJOR[action]}":
                broken.append(f"{workflow.name}: {action}@{ref}, the current major is v{CURRENT_MAJOR[action]}")
    return broken


def checkouts_do_not_keep_credentials() -> list[str]:
    return [f"{workflow.name}: a checkout keeps its credentials (persist-credentials: false)"
            for workflow in WORKFLOWS for job in yaml.safe_load(workflow.read_text())["jobs"].values()
            for step in job.get("steps", []) if step.get("uses", "").startswith("actions/checkout@")
            and step.get("with", {}).get("persist-credentials") is not False]


def pages_only_renders_and_deploy_alone_may_write() -> list[str]:
    pages = yaml.safe_load((ROOT / ".github/workflows/pages.yml").read_text())
    jobs = pages["jobs"]
    runs = " ".join(step.get("run", "") for job in jobs.values() for step in job.get("steps", []))
    rules = {"no permissions at the top": pages["permissions"] == {},
             "one pages concurrency group": pages["concurrency"]["group"] == "pages",
             "build only reads": jobs["build"]["permissions"] == {"contents": "read"},
             "deploy writes pages only": jobs["deploy"]["permissions"] == {"pages": "write", "id-token": "write"},
             "it renders the report and runs no study": "bench report" in runs and "bench run" not in runs
             and "make bench" not in runs}
    return [f"pages.yml: not {rule}" for rule, holds in rules.items() if not holds]


def main() -> int:
    broken = [line for rule in (scripts_are_executable, indexed_job_is_consistent, actions_are_current_majors,
                                checkouts_do_not_keep_credentials, pages_only_renders_and_deploy_alone_may_write)
              for line in rule()]
    for line in broken:
        print(f"check_infra: {line}", file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
