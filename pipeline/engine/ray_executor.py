"""The Executor on Ray: the same protocol as pipeline/engine/executor.py (`workers_for`, `map`, `close`, `shared`),
with Ray tasks instead of a local process pool. No stage knows which one runs it.

A task is the same module-level function with the same picklable arguments (a part's path, params, a stage
context); it runs in a Ray worker, reads its own input and writes its own output parts, so the parts must be on
a path every node can read (pipeline/engine/storage.py: a shared folder, or s3:// / gs:// through pyarrow.fs).
Results come back in task order, so outputs are byte-identical to the local backend's whatever the number of
nodes. A worker that dies (killed, out of memory, node lost) has its task rerun by Ray up to
`execution.ray.max_retries` times; a task's outputs are written under a temporary name and renamed, so a rerun
never reads half a part, and when the retries run out the run stops with a message and commits nothing.

Where Ray runs: `execution.ray.address` (else the RAY_ADDRESS environment variable) names a cluster to join
(`auto`, `ray://host:10001`, `host:6379`); without one chatprep starts a local Ray instance sized to
`execution.workers` and stops it at the end. A Ray instance already started in this process (a notebook, the
test session) is used as it is and left running.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from pipeline.engine.executor import available_cpus
from pipeline.errors import UserError

SETUP_HINT = "make setup-ray"
# a Ray worker takes one CPU per task: polars gets one thread there instead of one per core of the node
WORKER_ENV = {"POLARS_MAX_THREADS": "1"}


def resolve_address(configured: str | None, environ=os.environ) -> str | None:
    """The cluster to join: execution.ray.address, else RAY_ADDRESS, else None (start a local instance)."""
    return configured or environ.get("RAY_ADDRESS") or None


def _import_ray():
    try:
        import ray
    except ImportError:
        raise UserError(f"execution.backend is 'ray' but Ray is not installed here: run `{SETUP_HINT}`") from None
    return ray


class RayExecutor:
    """Tasks as Ray tasks (one CPU each), at most `2 × workers` in flight; in-process below `min_items` items."""

    def __init__(self, workers: int | None = None, address: str | None = None, max_retries: int = 3,
                 object_store_mb: int | None = None, min_items: int = 0):
        ray = self._ray = _import_ray()
        self.address = resolve_address(address)
        self.max_retries, self.min_items = max_retries, min_items
        self.started = False
        if not ray.is_initialized():
            kwargs: dict = {"runtime_env": {"env_vars": dict(WORKER_ENV)}, "include_dashboard": False,
                            "configure_logging": False, "log_to_driver": True}
            if self.address is None:  # a local instance: as many CPUs as the workers asked for
                kwargs["num_cpus"] = workers or available_cpus()
                if object_store_mb:
                    kwargs["object_store_memory"] = object_store_mb * 2**20
            try:
                ray.init(address=self.address, **kwargs)
            except (ConnectionError, RuntimeError, ValueError) as e:
                where = self.address or "a local Ray instance"
                raise UserError(f"execution.backend ray: cannot start or join {where} ({e}); check "
                                "execution.ray.address / RAY_ADDRESS (`ray status` on the head node shows the "
                                "address), or leave both unset to start a local instance") from None
            self.started = True
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.max_workers = max(1, min(workers, cpus) if workers else cpus)
        self._remote: dict[Callable, object] = {}

    @classmethod
    def from_config(cls, execution) -> RayExecutor:
        """From the config's `execution:` block (schemas.config.ExecutionConfig)."""
        r = execution.ray
        return cls(execution.workers, r.address, r.max_retries, r.object_store_mb, execution.parallel_min_examples)

    def workers_for(self, n_items: int, n_tasks: int) -> int:
        if n_items < self.min_items or n_tasks <= 1 or in_ray_worker():
            return 1
        return max(1, min(self.max_workers, n_tasks))

    def map(self, fn: Callable, tasks: Iterable[tuple], workers: int) -> Iterator:
        if workers <= 1:
            for task in tasks:
                yield fn(*task)
            return
        ray, remote = self._ray, self._task(fn)
        pending: dict = {}  # ref -> task index
        done: dict = {}
        next_out = 0
        try:
            for i, task in enumerate(tasks):
                pending[remote.remote(*task)] = i
                while len(pending) >= 2 * workers:
                    next_out = yield from self._collect(fn, pending, done, next_out)
            while pending:
                next_out = yield from self._collect(fn, pending, done, next_out)
        except BaseException:
            for ref in pending:
                ray.cancel(ref)  # a failed or abandoned map leaves no task running behind it
            raise

    def _task(self, fn: Callable):
        remote = self._remote.get(fn)
        if remote is None:
            remote = self._remote[fn] = self._ray.remote(fn).options(
                num_cpus=1, max_retries=self.max_retries, retry_exceptions=False, name=fn.__name__)
        return remote

    def _collect(self, fn: Callable, pending: dict, done: dict, next_out: int):
        ray = self._ray
        finished, _ = ray.wait(list(pending), num_returns=1)
        for ref in finished:
            index = pending.pop(ref)
            done[index] = self._result(fn, ref, index)
        while next_out in done:
            yield done.pop(next_out)
            next_out += 1
        return next_out

    def _result(self, fn: Callable, ref, index: int):
        exceptions = self._ray.exceptions
        try:
            return self._ray.get(ref)
        except exceptions.RayTaskError as e:  # the task itself raised: the same error as in-process
            cause = getattr(e, "cause", None)
            if isinstance(cause, BaseException):
                raise cause from None
            raise
        except (exceptions.WorkerCrashedError, exceptions.NodeDiedError, exceptions.ObjectLostError,
                exceptions.OutOfMemoryError, exceptions.TaskCancelledError) as e:
            attempts = self.max_retries + 1
            raise UserError(
                f"a Ray worker running {fn.__name__} (task {index + 1}) died {attempts} time"
                f"{'s' if attempts > 1 else ''} ({type(e).__name__}: {str(e).splitlines()[0][:300]}); the run stopped "
                f"and wrote no output. Out of memory is the usual cause: lower execution.chunk_size or give the "
                f"workers more memory, raise execution.ray.max_retries (now {self.max_retries}) for flaky nodes, then "
                f"rerun: finished steps are reused from the checkpoints") from None

    def check_shared(self, folder: Path, key: str = "cache.dir") -> None:
        """Stop before any work when a node of the cluster cannot see `folder`, where the tasks read and write
        their parts: one probe file written here, looked for by a task pinned to each node."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        folder = Path(folder).absolute()
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".ray-probe-{os.getpid()}-{uuid.uuid4().hex}"
        probe.write_text("chatprep")
        try:
            look = self._ray.remote(_node_sees)
            nodes = [n for n in self._ray.nodes() if n.get("Alive")]
            refs = [look.options(num_cpus=0, max_retries=self.max_retries,
                                 scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False))
                    .remote(str(probe)) for n in nodes]
            blind = [where for sees, where in self._ray.get(refs) if not sees]
        finally:
            probe.unlink(missing_ok=True)
        if blind:
            raise UserError(not_shared_message(folder, key, blind, len(nodes)))

    def shared(self, factory: Callable, *args, **kwargs):
        """One object every task and thread of the run reaches: an actor built by `factory(*args, **kwargs)`
        behind a proxy with the same methods and attributes (each call is one round trip to the actor)."""
        holder = self._ray.remote(_Holder).options(num_cpus=0, max_concurrency=1)
        return SharedProxy(holder.remote(factory, args, kwargs))

    def close(self) -> None:
        if self.started and self._ray.is_initialized():
            self._ray.shutdown()
        self.started = False


def _node_sees(path: str) -> tuple[bool, str]:
    """On one node: whether `path` exists there, and which node this is."""
    import socket

    return os.path.exists(path), socket.gethostname()


def not_shared_message(folder: Path, key: str, blind: list[str], n_nodes: int) -> str:
    return (f"{key} {folder} is not visible from {len(blind)} of the {n_nodes} Ray nodes ({', '.join(blind[:5])}"
            f"{', …' if len(blind) > 5 else ''}): the tasks there read and write the run's parts in it. Put {key} "
            "on a filesystem every node mounts at the same path (NFS, EFS, Filestore, a shared volume in KubeRay) "
            "and run chatprep from there; see docs/scaling.md")


def in_ray_worker() -> bool:
    """True inside a Ray task: it never fans out again."""
    import sys

    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return False
    return ray.get_runtime_context().worker.mode == ray.WORKER_MODE


class _Holder:
    """The actor behind `RayExecutor.shared`: holds the object and runs calls on it one at a time."""

    def __init__(self, factory: Callable, args: tuple, kwargs: dict):
        self.obj = factory(*args, **kwargs)

    def methods(self) -> list[str]:
        return [n for n in dir(self.obj) if not n.startswith("_") and callable(getattr(self.obj, n))]

    def call(self, name: str, args: tuple, kwargs: dict):
        return getattr(self.obj, name)(*args, **kwargs)

    def get(self, name: str):
        return getattr(self.obj, name)


class SharedProxy:
    """Calls and attribute reads forwarded to a `_Holder` actor; picklable, so tasks can carry it."""

    def __init__(self, handle, methods: frozenset[str] | None = None):
        import ray

        self._handle = handle
        self._methods = methods if methods is not None else frozenset(ray.get(handle.methods.remote()))

    def __reduce__(self):
        return SharedProxy, (self._handle, self._methods)

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        import ray

        if name in self._methods:
            return lambda *args, **kwargs: ray.get(self._handle.call.remote(name, args, kwargs))
        return ray.get(self._handle.get.remote(name))
