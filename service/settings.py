"""Service configuration: one pydantic-settings class read from ``MMS_*`` environment variables.

Tests build ``Settings(...)`` directly; nothing here reads the environment at import time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from contract.policy import VersionPolicy

Providers = Literal["auto", "cpu", "cuda"]
ModelControlMode = Literal["none", "poll", "explicit"]
GalleryBackend = Literal["edge", "qdrant"]
GraphOptimization = Literal["disable", "basic", "extended", "all"]
PrecisionSetting = Literal["auto", "fp32", "int8"]


_FORM_FIELDS = 16  # form fields an upload may send beside its files (model, top_k, metadata...)


class Settings(BaseSettings):
    """Every knob of the service; environment variables ``MMS_<FIELD>``, e.g. ``MMS_MODEL_DIR``."""

    model_config = SettingsConfigDict(env_prefix="MMS_", extra="forbid", frozen=True)

    # Model repository
    model_dir: Path = Field(default=Path("models"), description="the model repository root")
    models: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="model names to load (comma separated in the environment); empty loads all",
    )

    # ONNX Runtime
    providers: Providers = Field(
        default="auto", description="auto: CUDA when ORT can use it, else CPU; cpu; cuda"
    )
    require_gpu: bool = Field(
        default=False, description="fail readiness instead of serving on CPU when CUDA is missing"
    )
    intra_op_threads: int = Field(default=0, ge=0, description="0 lets ONNX Runtime decide")
    model_intra_op_threads: Annotated[dict[str, Annotated[int, Field(ge=0)]], NoDecode] = Field(
        default_factory=dict,
        description="per-model overrides of intra_op_threads, e.g. text=1 (one thread per batch "
        "served the text model 11% more sentences at c=32 on 2 cores, and vision 7% fewer)",
    )
    inter_op_threads: int = Field(default=0, ge=0, description="0 lets ONNX Runtime decide")
    graph_optimization: GraphOptimization = "all"
    ort_spinning: bool = Field(
        default=False,
        description="let ONNX Runtime's idle threads spin-wait: lower latency on dedicated cores, "
        "but it burns the CPU that decoding and HTTP need when cores are few or shared",
    )
    warmup: bool = Field(default=True, description="run one batch per model before it is ready")
    precision: PrecisionSetting = Field(
        default="auto",
        description="which file of a model serves: auto = its int8 variant where one passed the "
        "build's quality gate and this CPU has int8 dot-product instructions (VNNI or AMX) and "
        "no GPU is in use, else fp32; fp32 = always model.onnx; int8 = the int8 variant where "
        "there is one (models without one serve fp32)",
    )
    model_precisions: Annotated[dict[str, PrecisionSetting], NoDecode] = Field(
        default_factory=dict,
        description="per-model overrides of precision, e.g. vision=fp32;text=int8",
    )

    # Dynamic batching
    max_batch_size: int = Field(
        default=16, ge=1, le=1024,
        description="items per ONNX Runtime call, at most; batch_autotune picks each model's "
        "own limit up to it (e.g. 4 for vision, 16 for text on a CPU); raise it (e.g. 64) on a GPU",
    )  # fmt: skip
    batch_autotune: bool = Field(
        default=True,
        description="at warm-up, time each model at batch 1, 4, 16, ... up to max_batch_size and "
        "keep the largest size that is clearly cheaper per item than the smaller ones on this "
        "hardware (1 when none is); on the CPU, with the intra-op threads not set, also run it on "
        "one thread and keep that where a lone item runs as fast",
    )
    max_delay_ms: float = Field(
        default=2.0, ge=0.0, le=10_000.0,
        description="how long a batch may wait for requests still being decoded; a lone request "
        "never waits",
    )  # fmt: skip
    concurrent_batches: int = Field(
        default=0, ge=0, le=64,
        description="batches of one model running at the same time, each in its own thread; "
        "0 = two per CPU core, at most 8 (on CPUs, parallel runs fill the cores better than "
        "ONNX Runtime's intra-op threads alone), or one per core for a model that runs on one "
        "intra-op thread (more would only share the cores and shrink its batches)",
    )  # fmt: skip
    max_queue_size: int = Field(default=256, ge=1, description="items queued per model before 429")
    request_timeout_s: float = Field(
        default=30.0, gt=0.0, le=3600.0,
        description="the end-to-end deadline of a request: body read, decode, queue and run "
        "(504 past it; a client's X-Request-Timeout-Ms header may only shorten it)",
    )  # fmt: skip
    retry_after_s: int = Field(default=1, ge=1, description="Retry-After sent with 429 and 503")
    inference_threads: int = Field(
        default=0,
        ge=0,
        description="threads running ORT calls; 0 = the batch concurrency per loaded model",
    )

    # Request limits
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    max_items: int = Field(default=64, ge=1, le=4096, description="images/texts per request")
    max_text_chars: int = Field(default=4096, ge=1)
    max_image_pixels: int = Field(default=40_000_000, ge=1, description="width*height guard")

    # Under load: admission, memory and connection limits (README "Under load")
    max_inflight_bytes: int = Field(
        default=192 * 1024 * 1024, ge=1024,
        description="request bodies admitted at once, in bytes (Content-Length, or max_body_bytes "
        "when a body is chunked); a request that does not fit waits up to admission_wait_ms "
        "before its body is read, then 429",
    )  # fmt: skip
    max_request_pixels: int = Field(
        default=80_000_000, ge=1, description="decoded pixels of the images of one request (413)"
    )
    max_inflight_pixels: int = Field(
        default=160_000_000, ge=1,
        description="decoded pixels of every request decoding at once; a request that does not "
        "fit waits up to admission_wait_ms, then 429",
    )  # fmt: skip
    admission_wait_ms: float = Field(
        default=2000.0, ge=0.0, le=60_000.0,
        description="how long a request may wait for the byte and pixel budgets (never for a "
        "model queue: a full queue is a 429 at once)",
    )  # fmt: skip
    max_form_parts: int = Field(
        default=256, ge=1,
        description="parts of one multipart body (400 past it, while it streams); at least "
        "max_items + 16",
    )
    max_form_field_bytes: int = Field(
        default=256 * 1024, ge=1, description="bytes of one multipart text field (413 past it)"
    )
    max_connections: int = Field(
        default=1000, ge=1,
        description="open connections; one more is closed at once, before it is read",
    )  # fmt: skip
    limit_concurrency: int = Field(
        default=1024, ge=1,
        description="uvicorn's limit on connections plus requests in progress (503 past it); "
        "kept above max_connections so the connection cap acts first",
    )  # fmt: skip
    header_timeout_s: float = Field(
        default=10.0, gt=0.0, le=600.0,
        description="time a connection has to send a complete request head; closed past it",
    )  # fmt: skip
    body_timeout_s: float = Field(
        default=20.0, gt=0.0, le=3600.0,
        description="time a request has to send its whole body; 408 and closed past it",
    )  # fmt: skip
    keep_alive_timeout_s: int = Field(
        default=5, ge=1, le=600, description="an idle keep-alive connection is closed after"
    )
    backlog: int = Field(default=2048, ge=1, description="connections the kernel queues for accept")
    accept_batch: int = Field(
        default=0, ge=0, le=65536,
        description="0 = the event loop's own accept (uvloop: one connection per loop "
        "iteration); N = accept up to N waiting connections per wake-up of the listening "
        "socket: under overload a 429 reaches new connections far sooner, but clients that "
        "reconnect at once without honouring Retry-After then take the loop from admitted work "
        "(README Under load)",
    )  # fmt: skip

    # Ranking
    rank_temperature: float = Field(
        default=100.0, gt=0.0, description="logit scale of /v1/rank softmax (CLIP uses 100)"
    )

    # Gallery (service/gallery/config.py explains each choice and its measurements)
    gallery_backend: GalleryBackend = Field(
        default="edge",
        description="edge: the Qdrant engine in-process, one service process per data dir; "
        "qdrant: a Qdrant server or cluster (for replicas)",
    )
    gallery_data_dir: Path = Field(
        default=Path("data/gallery"), description="the embedded store's directory (edge backend)"
    )
    gallery_qdrant_url: str | None = Field(
        default=None, description="the Qdrant server, e.g. http://qdrant:6333 (qdrant backend)"
    )
    gallery_qdrant_api_key: SecretStr | None = Field(
        default=None, description="sent to the Qdrant server as its api-key header"
    )
    gallery_qdrant_prefix: str = Field(
        default="gallery_", max_length=32, description="prefix of the gallery's server collections"
    )
    gallery_qdrant_timeout_s: int = Field(default=10, ge=1, description="per Qdrant request")
    gallery_optimize_threshold: int = Field(
        default=20_000, ge=0,
        description="build a collection's HNSW index once this many points are unindexed (the "
        "build holds the GIL: the process pauses 6-100 s per 20,000 points); 0 = never by itself",
    )  # fmt: skip
    gallery_flush_on_write: bool = Field(
        default=False,
        description="fsync the embedded store before acknowledging a write (survives power loss; "
        "kill -9 is survived without it); costs 46-230 ms a write",
    )
    gallery_hnsw_ef: int | None = Field(
        default=None, ge=1, description="HNSW search beam; unset = the engine's default"
    )
    gallery_max_batch_items: int = Field(default=1000, ge=1, description="items per add/delete")
    gallery_max_metadata_bytes: int = Field(default=16_384, ge=1, description="per item, JSON")
    gallery_max_metadata_depth: int = Field(default=4, ge=1, description="nesting of metadata")
    gallery_max_id_length: int = Field(default=256, ge=1, description="characters of an item id")
    gallery_max_top_k: int = Field(default=1000, ge=1, description="hits per search")
    gallery_max_offset: int = Field(default=10_000, ge=1, description="search paging offset")
    gallery_max_collections: int = Field(default=1000, ge=1, description="collections in all")

    # HTTP
    api_key: str | None = Field(default=None, description="when set, /v1 and /v2 need it")
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    log_level: str = "INFO"

    # Model lifecycle: control mode, version policy, readiness (README "Model versions")
    model_control_mode: ModelControlMode = Field(
        default="none",
        description="none: load the repository at start; poll: also rescan it every "
        "repository_poll_s and apply changes; explicit: load and unload only through "
        "POST /v2/repository/models/<name>/load|unload (plus MMS_MODELS at start)",
    )
    repository_poll_s: float = Field(
        default=5.0, gt=0.0, le=3600.0, description="seconds between rescans in poll mode"
    )
    version_policy: str = Field(
        default="latest:1",
        description="versions served per model: latest:N, all, or specific:1,2 (a newer broken "
        "version falls back to the next older one under latest:N)",
    )
    model_version_policies: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description="per-model overrides of version_policy, e.g. vision=specific:1,2;text=all",
    )
    require_all_models: bool = Field(
        default=False,
        description="readiness only when every model serves (default: when at least one serves "
        "and every model has finished loading)",
    )
    drain_timeout_s: float = Field(
        default=30.0, gt=0.0, description="how long a replaced version may finish its queue"
    )

    @field_validator("models", "cors_origins", mode="before")
    @classmethod
    def _split_csv(cls, value: object) -> object:
        """Accept ``a,b,c`` (environment) as well as a list (code)."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator(
        "model_version_policies", "model_precisions", "model_intra_op_threads", mode="before"
    )
    @classmethod
    def _split_policies(cls, value: object) -> object:
        """Accept ``a=latest:2;b=specific:1,2`` (environment) as well as a dict (code)."""
        if isinstance(value, str):
            pairs = [part.split("=", 1) for part in value.split(";") if part.strip()]
            if any(len(pair) != 2 for pair in pairs):
                raise ValueError("write per-model settings as name=value;name=value")
            return {name.strip(): policy.strip() for name, policy in pairs}
        return value

    @field_validator("version_policy")
    @classmethod
    def _check_policy(cls, value: str) -> str:
        VersionPolicy.parse(value)
        return value

    @field_validator("model_version_policies")
    @classmethod
    def _check_policies(cls, value: dict[str, str]) -> dict[str, str]:
        for policy in value.values():
            VersionPolicy.parse(policy)
        return value

    def policy_for(self, name: str) -> VersionPolicy:
        """The version policy of model ``name`` (its override, else the global one)."""
        return VersionPolicy.parse(self.model_version_policies.get(name, self.version_policy))

    def intra_op_threads_for(self, name: str) -> int:
        """ONNX Runtime's intra-op threads for model ``name`` (its override, else the global)."""
        return self.model_intra_op_threads.get(name, self.intra_op_threads)

    def precision_for(self, name: str) -> PrecisionSetting:
        """The precision setting of model ``name`` (its override, else the global one)."""
        return self.model_precisions.get(name, self.precision)

    @model_validator(mode="after")
    def _check_queue_fits_a_request(self) -> Settings:
        if self.max_queue_size < self.max_items:
            raise ValueError(
                f"max_queue_size ({self.max_queue_size}) must be >= max_items ({self.max_items}), "
                "or the largest allowed request could never be queued"
            )
        return self

    @model_validator(mode="after")
    def _check_load_limits(self) -> Settings:
        if self.limit_concurrency <= self.max_connections:
            raise ValueError(
                f"limit_concurrency ({self.limit_concurrency}) must be > max_connections "
                f"({self.max_connections}), else uvicorn answers 503 before the cap acts"
            )
        if self.max_form_parts < self.max_items + _FORM_FIELDS:
            raise ValueError(
                f"max_form_parts ({self.max_form_parts}) must be >= max_items + {_FORM_FIELDS} "
                f"({self.max_items + _FORM_FIELDS}), or the largest allowed upload is refused"
            )
        if self.max_inflight_pixels < self.max_request_pixels:
            raise ValueError("max_inflight_pixels must be >= max_request_pixels")
        if self.max_inflight_bytes < self.max_body_bytes:
            raise ValueError("max_inflight_bytes must be >= max_body_bytes")
        return self

    @property
    def batch_concurrency(self) -> int:
        """``concurrent_batches``, with 0 resolved to two per usable CPU core (at most 8).

        Measured on 2 cores with EfficientNet-Lite0: four parallel ``session.run`` calls gave
        about 100 images/s where one call at a time peaked near 75 at any batch size, because
        the intra-op threads of a single small run leave the cores idle much of the time.
        """
        if self.concurrent_batches:
            return self.concurrent_batches
        return min(8, 2 * _usable_cpus())

    def batch_concurrency_for(self, *, one_thread: bool) -> int:
        """The batches one model runs at the same time: ``concurrent_batches`` when set; for a
        model whose session runs on one intra-op thread on the CPU, one per usable core (at most
        8); else :attr:`batch_concurrency`.

        A one-thread batch keeps one core busy by itself, so a second batch per core only
        time-slices with it and takes items from the batch being collected. Measured on 2 cores
        (the int8 text model, one sentence a request at c=32, three pairs of starts): 2 batches
        at a time served 4-10% more sentences a second than 4 (a median 2.9 ms of server CPU a
        sentence against 3.3), with a shorter tail; `vision` forced onto one thread (batches of
        1, nothing to gain from batching) served the same either way (README "Performance").
        """
        if self.concurrent_batches:
            return self.concurrent_batches
        if one_thread:
            return min(8, _usable_cpus())
        return self.batch_concurrency


def _usable_cpus() -> int:
    """CPUs this process may run on (the affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
