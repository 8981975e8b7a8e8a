"""The production layout (Dockerfile, deploy/k8s): the image builds the package the repository builds, the k8s
instance is the shipped instance plus dagster-k8s's run launcher and validates against it, and that launcher, fed
a real partition run, asks a Kubernetes API (a stub on loopback) for one Job with the partition's GPUs."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import shlex
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._config import process_config
from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster._core.launcher import LaunchRunContext
from dagster_k8s import K8sRunLauncher

from magpie_dagster.defs.definitions_builder import build_definitions
from magpie_dagster.defs.partitions import model_date_key
from magpie_dagster.defs.run_tags import GPU_RESOURCE, K8S_CONFIG_TAG, gpus_for
from magpie_dagster.domain.catalogue import load_catalogue
from magpie_dagster_tests.servers import serve_on_loopback

ROOT = Path(__file__).parent.parent
K8S = ROOT / "deploy" / "k8s"
IMAGE = "registry.example.com/magpie-dagster:0.1.0"
NIGHT = dt.date(2026, 11, 20)
CATALOGUE = """
start_date: "2026-11-01"
models:
  - {key: small, engine: llama_cpp, model: packaged:smollm2-135m-instruct, template: smollm2}
  - {key: big, engine: vllm, model: org/big, template: llama-3, tensor_parallel_size: 2}
"""


def k8s_instance() -> dict:
    return yaml.safe_load((K8S / "dagster.yaml").read_text())


def manifests() -> list[dict]:
    return [document for document in yaml.safe_load_all((K8S / "magpie.yaml").read_text()) if document]


def test_the_k8s_instance_is_the_shipped_instance_plus_the_k8s_run_launcher():
    """So the two files cannot drift apart: queue, pools, tag limits and retries are the ones tested elsewhere."""
    instance = k8s_instance()
    launcher = instance.pop("run_launcher")
    assert instance == yaml.safe_load((ROOT / "deploy" / "dagster.yaml").read_text())
    assert (launcher["module"], launcher["class"]) == ("dagster_k8s", "K8sRunLauncher")


def test_the_run_launcher_config_validates_against_the_installed_dagster_k8s():
    config = k8s_instance()["run_launcher"]["config"]
    assert process_config(K8sRunLauncher.config_type(), config).success
    misspelt = {**config, "job_namespaces": "magpie"}
    errors = process_config(K8sRunLauncher.config_type(), misspelt).errors
    assert errors and "job_namespaces" in errors[0].message


def test_the_manifests_provide_what_the_run_launcher_and_the_workspace_name():
    config = k8s_instance()["run_launcher"]["config"]
    by_kind = {(document["kind"], document["metadata"]["name"]): document for document in manifests()}
    namespace = config["job_namespace"]
    assert {document["metadata"]["namespace"] for document in by_kind.values()} == {namespace}
    assert ("ServiceAccount", config["service_account_name"]) in by_kind
    assert ("ConfigMap", "magpie-env") in by_kind and config["env_config_maps"] == ["magpie-env"]
    claim = config["run_k8s_config"]["pod_spec_config"]["volumes"][0]["persistent_volume_claim"]["claim_name"]
    assert ("PersistentVolumeClaim", claim) in by_kind
    role = by_kind[("Role", "magpie-dagster")]
    assert any("jobs" in rule["resources"] and "create" in rule["verbs"] for rule in role["rules"])
    [server] = yaml.safe_load(by_kind[("ConfigMap", "magpie-workspace")]["data"]["workspace.yaml"])["load_from"]
    service = by_kind[("Service", server["grpc_server"]["host"])]
    assert service["spec"]["ports"][0]["port"] == server["grpc_server"]["port"]
    deployments = [document for (kind, _), document in by_kind.items() if kind == "Deployment"]
    containers = [document["spec"]["template"]["spec"]["containers"][0] for document in deployments]
    assert {container["image"] for container in containers} == {IMAGE}
    code = by_kind[("Deployment", "magpie-code")]["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "DAGSTER_CURRENT_IMAGE", "value": IMAGE} in code["env"]
    for name in ("dagster-webserver", "dagster-daemon"):
        volumes = by_kind[("Deployment", name)]["spec"]["template"]["spec"]["volumes"]
        assert {"name": "instance", "configMap": {"name": config["instance_config_map"]}} in volumes


class _KubernetesJobs(BaseHTTPRequestHandler):
    """The one call the run launcher makes: create a Job. Records the body and answers as the API does."""

    created: list[dict]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.created.append({"path": self.path, "body": json.loads(body)})
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        """Silent."""


@contextlib.contextmanager
def kubernetes_api(tmp_path: Path) -> Iterator[tuple[Path, list[dict]]]:
    """A stub Kubernetes API on loopback and a kubeconfig pointing at it."""
    created: list[dict] = []
    handler = type("Jobs", (_KubernetesJobs,), {"created": created})
    with serve_on_loopback(handler) as base_url:
        kubeconfig = tmp_path / "kubeconfig"
        server = base_url.removesuffix("/v1")
        kubeconfig.write_text(
            yaml.safe_dump({
                "apiVersion": "v1", "kind": "Config", "current-context": "test",
                "clusters": [{"name": "test", "cluster": {"server": server}}],
                "users": [{"name": "test", "user": {"token": "test"}}],
                "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test"}}],
            })
        )  # fmt: skip
        yield kubeconfig, created


def nightly_requests(tmp_path: Path) -> tuple[dg.Definitions, dict[str, dg.RunRequest]]:
    """The test catalogue's definitions and its nightly schedule's run requests by model."""
    catalogue = tmp_path / "catalogue.yaml"
    catalogue.write_text(CATALOGUE)
    definitions = build_definitions(catalogue, tmp_path / "w.duckdb")
    schedule = definitions.resolve_schedule_def("nightly_magpie")
    when = dt.datetime.combine(NIGHT, dt.time(2), tzinfo=dt.timezone.utc)
    repository = definitions.get_repository_def()
    with dg.build_schedule_context(scheduled_execution_time=when, repository_def=repository) as context:
        requests = schedule.evaluate_tick(context).run_requests
    return definitions, {request.tags["magpie/model"]: request for request in requests}


def launch_nightly_run(tmp_path: Path, model: str) -> dict:
    """The nightly schedule's run request for `model`, launched by the shipped K8sRunLauncher config."""
    definitions, requests = nightly_requests(tmp_path)
    request = requests[model]
    job = definitions.resolve_job_def("magpie_job")
    tags = {**request.tags, **job.partitions_def.get_tags_for_partition_key(model_date_key(model, NIGHT))}
    origin = ReconstructableRepository.for_module(
        "magpie_dagster.definitions", "defs", container_image=IMAGE
    ).get_reconstructable_job("magpie_job").get_python_origin()  # fmt: skip
    with kubernetes_api(tmp_path) as (kubeconfig, created):
        launcher_config = {**k8s_instance()["run_launcher"]["config"], "load_incluster_config": False,
                           "kubeconfig_file": str(kubeconfig)}  # fmt: skip
        launcher = {"module": "dagster_k8s", "class": "K8sRunLauncher", "config": launcher_config}
        with dg.instance_for_test(overrides={"run_launcher": launcher}) as instance:
            run = instance.create_run_for_job(job_def=job, tags=tags, job_code_origin=origin)
            instance.run_launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=None))
    [call] = created
    assert call["path"] == "/apis/batch/v1/namespaces/magpie/jobs"
    return call["body"]


def test_a_partition_run_becomes_one_kubernetes_job_from_the_image_with_its_gpus(tmp_path):
    job = launch_nightly_run(tmp_path, "big")
    assert job["spec"]["backoffLimit"] == 0
    pod = job["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert pod["serviceAccountName"] == "magpie-dagster"
    assert container["image"] == IMAGE
    assert "execute_run" in container["args"]
    # The run tag's GPUs (the largest in-process vLLM engine, tensor_parallel_size 2) beside the instance's defaults.
    assert container["resources"]["limits"] == {GPU_RESOURCE: "2", "memory": "8Gi"}
    assert container["resources"]["requests"] == {"cpu": "2", "memory": "4Gi"}
    sources = [next(iter(source.values()))["name"] for source in container["envFrom"]]
    assert sorted(sources) == ["magpie-env", "magpie-secrets"]
    assert {"name": "exports", "mountPath": "/data/exports"} in container["volumeMounts"]


def test_a_cpu_model_run_asks_for_no_gpu(tmp_path):
    job = launch_nightly_run(tmp_path, "small")
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["limits"] == {"memory": "8Gi"}


def test_only_in_process_vllm_entries_get_the_gpu_tag(tmp_path):
    _, requests = nightly_requests(tmp_path)
    tags = {model: request.tags.get(K8S_CONFIG_TAG) for model, request in requests.items()}
    assert tags["small"] is None
    assert json.loads(tags["big"]) == {"container_config": {"resources": {"limits": {GPU_RESOURCE: "2"}}}}


def test_a_vllm_judge_asks_for_gpus_only_when_it_answers_something(tmp_path):
    judging = (
        "judging:\n  judge: {engine: vllm, model: org/judge, tensor_parallel_size: 4}\n  classifier: {tags: [%s]}\n"
    )
    path = tmp_path / "catalogue.yaml"
    path.write_text(CATALOGUE + judging % "difficulty, quality, category")  # the classifier answers every tag
    assert gpus_for(load_catalogue(path), "small") == 0
    path.write_text(CATALOGUE + judging % "category")  # the judge answers difficulty and quality
    assert gpus_for(load_catalogue(path), "small") == 4


def dockerfile_copies() -> list[str]:
    """Sources of the build stage's COPY lines (not `COPY --from`)."""
    sources = []
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        words = shlex.split(line) if line.startswith("COPY ") else []
        if words and not words[1].startswith("--from"):
            sources += words[1:-1]
    return sources


def wheel_files(source: Path, out: Path) -> set[str]:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(out),
         str(source)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    [wheel] = out.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return {name for name in archive.namelist() if not name.startswith("magpie_dagster-0.1.0.dist-info/RECORD")}


def test_the_docker_build_context_builds_the_package_the_repository_builds(tmp_path):
    """Without a container runtime: the files the Dockerfile copies make the same wheel as the repository."""
    context = tmp_path / "context"
    context.mkdir()
    for source in dockerfile_copies():
        path = ROOT / source
        if path.is_dir():
            shutil.copytree(path, context / source, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(path, context / source)
    repository = tmp_path / "repository"  # a copy: building in place would leave build/ in the source tree
    local_state = shutil.ignore_patterns(".git", ".venv", "data", "build", "*.egg-info", "__pycache__")
    shutil.copytree(ROOT, repository, ignore=local_state)
    from_image = wheel_files(context, tmp_path / "image-wheel")
    from_repository = wheel_files(repository, tmp_path / "repository-wheel")
    assert from_image == from_repository
    assert {"magpie_dagster/catalogue.yaml", "magpie_dagster/domain/tagging/eval_set.jsonl"} <= from_image
    extras = ("production", "lake", "k8s")
    optional = _pyproject()["project"]["optional-dependencies"]
    assert all(extra in optional for extra in extras)
    assert f'".[{",".join(extras)}]"' in (ROOT / "Dockerfile").read_text()


def _pyproject() -> dict:
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _container_runtime_problem() -> str | None:
    if shutil.which("docker") is None:
        return "no container runtime: `docker` is not installed"
    probe = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        first = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        return f"no container runtime: `docker info` failed ({first})"
    return None


@pytest.mark.slow
def test_the_image_builds_and_loads_the_code_location():
    problem = _container_runtime_problem()
    if problem:
        pytest.skip(f"{problem}; the build context is checked by the test above")
    tag = "magpie-dagster:test"
    subprocess.run(["docker", "build", "-t", tag, str(ROOT)], check=True, timeout=3600)
    check = (
        "import importlib.metadata as m, magpie_dagster.definitions as d; "
        "d.defs().get_repository_def(); print(m.version('magpie-dagster'))"
    )
    done = subprocess.run(
        ["docker", "run", "--rm", "-e", "MAGPIE_WAREHOUSE=/tmp/w.duckdb", tag, "python", "-c", check],
        check=True, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.stdout.strip() == _pyproject()["project"]["version"]
