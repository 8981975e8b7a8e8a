"""How every asset starts and ends: schema, the partition's lease, and failures that name the partition.

An asset body runs inside `stage_run`: the warehouse schema is in place, this run holds the lease of its
stage (the asset) and partition (a second run is refused with who holds it), a heartbeat keeps the lease while batches
are generated, and the lease is released as the stage's ledger entry (finished, or failed with the cause). A stage
that finishes refreshes the warehouse's read copy (`storage/read_copy.py`), the file analysts query meanwhile.
Engine, template and storage errors become a `Failure` that names the partition and what to do.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

import dagster as dg

from magpie_dagster.defs.partitions import partition_label_of
from magpie_dagster.defs.resources import WarehouseResource
from magpie_dagster.domain.chat_templates import ChatTemplateError
from magpie_dagster.domain.completion import EngineError
from magpie_dagster.storage import leases
from magpie_dagster.storage.errors import WarehouseError, WarehouseWriteFailed
from magpie_dagster.storage.leases import Lease, LeaseHeld
from magpie_dagster.storage.read_copy import publish_read_copy
from magpie_dagster.storage.warehouse import Warehouse

EXPECTED_ERRORS = (EngineError, WarehouseError, ChatTemplateError)
EXIT_CODE = "exit_code"  # failure metadata: what `magpie-dagster run` exits with when this step fails
BAD_ENVIRONMENT = 2


@dataclass(frozen=True)
class StageRun:
    stage: str
    label: str  # the partition, as people and leases name it: `model|date`, or the night's date
    store: Warehouse
    lease: Lease


@contextmanager
def stage_run(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> Iterator[StageRun]:
    store = warehouse.get()
    with store.kept_open():  # a stage's many short calls share the file while they follow each other closely
        yield from _stage_run(context, warehouse, store)


def _stage_run(context: dg.AssetExecutionContext, warehouse: WarehouseResource, store: Warehouse) -> Iterator[StageRun]:
    stage, label = context.asset_key.path[-1], partition_label_of(context)
    try:
        store.ensure_schema()
        if store.read_copy_path and not store.read_copy_path.exists():  # analysts can query from the first stage on
            _refresh_read_copy(context, warehouse, store)
        lease = leases.acquire(store, stage, label, context.run_id, ttl_s=warehouse.lease_ttl_s)
    except LeaseHeld as error:
        raise dg.Failure(
            description=str(error), metadata={"partition": label, "stage": stage}, allow_retries=False
        ) from None
    except WarehouseError as error:
        raise _failure(stage, label, error) from error
    try:
        with leases.Heartbeat(lease):
            yield StageRun(stage, label, store, lease)
    except BaseException as error:
        with suppress(WarehouseError):  # the cause matters more than the ledger entry
            leases.release(lease, leases.FAILED, _first_line(error))
        if isinstance(error, EXPECTED_ERRORS):
            raise _failure(stage, label, error) from error
        if isinstance(error, KeyboardInterrupt | dg.DagsterExecutionInterruptedError):
            # Terminated (SIGTERM, the UI's Terminate): stop now. Dagster would retry an interrupted step.
            raise dg.Failure(
                description=f"Partition {label} ({stage}): terminated; the batches stored before are kept and a "
                "re-run resumes from them.",
                metadata={"partition": label, "stage": stage},
                allow_retries=False,
            ) from None
        raise
    leases.release(lease, leases.FINISHED)
    _refresh_read_copy(context, warehouse, store)


def _refresh_read_copy(context: dg.AssetExecutionContext, warehouse: WarehouseResource, store: Warehouse) -> None:
    """The stage's rows are committed whatever happens here: a copy that fails waits for the next stage."""
    if not warehouse.read_copy:
        return
    try:
        published = publish_read_copy(store, ttl_s=warehouse.lease_ttl_s)
    except (WarehouseError, OSError) as error:
        context.log.warning(f"The warehouse's read copy was not refreshed ({error}); the next stage refreshes it.")
        return
    if published:
        context.log.info(f"Read copy refreshed: {published}")


def _failure(stage: str, label: str, error: Exception) -> dg.Failure:
    metadata = {"partition": label, "stage": stage}
    if isinstance(error, WarehouseWriteFailed):  # the disk, not the run: the CLI exits 2, as for a bad file
        metadata[EXIT_CODE] = BAD_ENVIRONMENT
    return dg.Failure(
        description=f"Partition {label} ({stage}): {error}",
        metadata=metadata,
        allow_retries=not isinstance(error, ChatTemplateError | WarehouseError),
    )


def _first_line(error: BaseException) -> str:
    if isinstance(error, dg.Failure) and error.description:
        return error.description.splitlines()[0][:500]
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:500] if text else ''}"
