"""The only module that imports Ray: connecting to (or starting) a Ray, and running the runner's tasks
and service stages on it.

A local Ray is this run's alone (see `connect`). Tasks are Ray tasks spread over the nodes, a bounded
window in flight; a service stage's clients are async actors, a few batches in flight each. Both go
through one submit/wait/cancel loop (`RayExecutor._pump`).
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray

from curate.errors import CurateError, RunDirError, StageError
from curate.runner.executor import SERVICE_BATCHES_IN_FLIGHT, Done, Finished, ServiceClient, Task, run_task
from curate.stages.base import MapStage, ServiceStage


class RayExecutor:
    """Tasks on Ray: joins `address` (or RAY_ADDRESS), or starts a local Ray of `num_cpus` cores; a
    Ray this process was already connected to (a notebook's, a test session's) is used as it is."""

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None):
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self.num_cpus = num_cpus
        self.started_here = False
        self._cpus = 1

    def start(self) -> None:
        self.started_here = connect(self.address, self.num_cpus)
        self._cpus = int(ray.cluster_resources().get("CPU", 1))

    def stop(self) -> None:
        if self.started_here:
            disconnect()
            self.started_here = False

    @property
    def cpus(self) -> int:
        return self._cpus

    def describe(self) -> dict[str, Any]:
        return {"executor": self.name, "address": self.address or "local", "cpus": self._cpus}

    def run_tasks(self, tasks: list[Task], done: Done, stages: list[MapStage] | None = None) -> None:
        shared = ray.put(stages) if stages and tasks else None
        window = max(4, 2 * self._cpus)

        def submit(task: Task) -> tuple[Any, Callable[[], None]]:
            ref = _task.remote(task, shared)  # type: ignore[call-arg]  # ray types remote() of a decorated function by arity 0
            return ref, lambda: None

        self._pump(tasks, submit, lambda in_flight: in_flight < window, done, actor_tasks=False)

    def run_service(self, stage: ServiceStage, batches: list[Task], run_dir: str, done: Done) -> list[dict[str, Any]]:
        if not batches:
            return []
        shared = ray.put(stage)
        client = _ServiceActor.options(scheduling_strategy="SPREAD")  # type: ignore[attr-defined]  # ray.remote adds options() to the class
        actors = [client.remote(shared, config, run_dir) for config in stage.actors()]
        load = [0] * len(actors)

        def submit(batch: Task) -> tuple[Any, Callable[[], None]]:
            target = load.index(min(load))  # the least busy client
            load[target] += 1
            return actors[target].run.remote(batch), lambda: load.__setitem__(target, load[target] - 1)

        try:
            self._pump(batches, submit, lambda _: min(load) < SERVICE_BATCHES_IN_FLIGHT, done, actor_tasks=True)
            return [_get(ref) for ref in [actor.close.remote() for actor in actors]]
        finally:
            for actor in actors:
                ray.kill(actor)

    def _pump(
        self,
        items: Iterable[Task],
        submit: Callable[[Task], tuple[Any, Callable[[], None]]],
        has_room: Callable[[int], bool],
        done: Done,
        *,
        actor_tasks: bool,
    ) -> None:
        """Submit while there is room (`has_room` gets the number in flight), report results as they land;
        on a failure, cancel what is in flight."""
        todo = list(items)
        in_flight: dict[Any, tuple[str, Callable[[], None]]] = {}
        position = 0
        try:
            while position < len(todo) or in_flight:
                while position < len(todo) and has_room(len(in_flight)):
                    ref, release = submit(todo[position])
                    in_flight[ref] = (todo[position].key, release)
                    position += 1
                ready, _ = ray.wait(list(in_flight), num_returns=1)
                ready, _ = ray.wait(list(in_flight), num_returns=len(in_flight), timeout=0)
                for ref in ready:
                    key, release = in_flight.pop(ref)
                    release()
                    done(key, _get(ref))
        except BaseException as stopping:
            # A signal's way out cleans nothing up, and stopping Ray (or leaving the cluster) ends the
            # tasks: they are left alone. (Force-cancelling a task while its reply arrives trips an
            # assertion in Ray 2.60's core worker, which then aborts the process: 1 stop in 25 did.)
            if isinstance(stopping, KeyboardInterrupt):
                raise
            refs = list(in_flight)
            for ref in refs:
                ray.cancel(ref, force=not actor_tasks)  # an actor's tasks end with the actor, killed by the caller
            if refs and not actor_tasks:  # let them stop before anyone cleans up after this run
                ray.wait(refs, num_returns=len(refs), timeout=60)
            raise


def connect(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Join `address` (or RAY_ADDRESS), or start a local Ray. Returns True when this call started Ray
    (stop it with `disconnect`).

    A local Ray is this run's alone: every one of its servers listens on 127.0.0.1 only, and Ray's
    token authentication is on with a fresh random token that lives in the environment of this
    process's Ray processes and nowhere else (never ~/.ray, never the run directory), so no other
    process, local or remote, can submit work to it. No usage statistics, no dashboard, and a watchdog
    (`curate/runner/watchdog.py`) that removes all of it within a second when this process dies. A cluster
    you join keeps its own settings.
    """
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or None
    quiet = dict(log_to_driver=False, configure_logging=False, logging_level=logging.WARNING)
    if address:
        _join(address, quiet)
        return True
    _start_local(num_cpus, quiet)
    return True


def _connect_error(cause: BaseException) -> str:
    """Ray's reason for not joining, as one line: its messages can run on into a quoted traceback."""
    text = str(cause)
    if "InvalidAuthToken" in text or isinstance(cause, ray.exceptions.AuthenticationError):
        return "the cluster requires its token: set RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH) as its administrator says"
    first = text.strip().splitlines()[0] if text.strip() else type(cause).__name__
    first = re.split(r"\s*(?:Last connection error:|Traceback \(most recent call last\))", first)[0].strip() or type(cause).__name__
    if "Failed to connect to GCS" in first:
        first += " (something answers at that address, but not a Ray head: check the host and the port, 6379 unless it was started with another)"
    return first


def _join(address: str, quiet: dict[str, Any]) -> None:
    """Join a running Ray, or fail within seconds with one line: Ray itself retries an address where
    nothing listens for minutes. A loopback address is the machine's own Ray: Ray reaches it at the
    machine's network address, unless it listens on loopback alone (curate's local Ray does), in which
    case this process joins it as a loopback node too."""
    from ray._private import ray_constants, services

    host, _, port = address.rpartition(":")
    if address in ("auto", "local") or not port.isdigit() or address.startswith("ray://"):
        hosts = None  # Ray's own forms: it finds (or refuses) them itself
    else:
        host = host.strip("[]")
        loopback = host in ("localhost", "::1") or host.startswith("127.")
        hosts = [services.resolve_ip_for_localhost(host), "127.0.0.1"] if loopback else [host]
    loopback_only = False
    if hosts is not None:
        reachable = [h for h in hosts if _listening(h, int(port))]
        if not reachable:
            raise RunDirError(f"--ray-address {address}: nothing answers at that address (is Ray running there, and is the port open?)")
        loopback_only = reachable[0] == "127.0.0.1" and hosts[0] != "127.0.0.1"
    cluster_flag = ray_constants.ENABLE_RAY_CLUSTER
    saved = os.environ.get(ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR)
    if loopback_only:
        ray_constants.ENABLE_RAY_CLUSTER = False
        os.environ[ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR] = "0"
    try:
        ray.init(address=address, **quiet)
    except (ConnectionError, RuntimeError, ValueError, ray.exceptions.AuthenticationError) as err:
        raise RunDirError(f"--ray-address {address}: cannot connect: {_connect_error(err.__cause__ or err)}") from None
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = cluster_flag
        if loopback_only:
            if saved is None:
                os.environ.pop(ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR, None)
            else:
                os.environ[ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR] = saved


def _listening(host: str, port: int, timeout: float = 3.0) -> bool:
    import socket

    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass
class _LocalRay:
    token: str
    watchdog: Any


_local: _LocalRay | None = None


def _start_local(num_cpus: int | None, quiet: dict[str, Any]) -> None:
    global _local
    from ray._private import ray_constants
    from ray._raylet import AuthenticationTokenLoader, Config  # type: ignore[attr-defined]  # compiled module, no stubs for these

    from curate.runner.watchdog import OWNER_ENV

    token, owner = secrets.token_hex(32), secrets.token_hex(12)
    # Inherited by the GCS, the raylet and the agents started below, and through the raylet by every
    # worker; taken out of this process's own environment again once they are up.
    env = {
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": token,
        # Ray on Linux advertises the machine's address and binds every server to all interfaces;
        # with this off (as on macOS), the node's address is 127.0.0.1 and its servers bind to it alone.
        ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR: "0",
        "RAY_USAGE_STATS_ENABLED": "0",
        OWNER_ENV: owner,
    }
    saved_env = {name: os.environ.get(name) for name in env}
    watchdog = subprocess.Popen(
        [sys.executable, "-m", "curate.runner.watchdog", owner, str(os.getpid())],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # not in the terminal's process group: it must outlive a Ctrl-C'd driver
        env={**os.environ, "PYTHONPATH": _package_path()},
    )
    main_thread = threading.current_thread() is threading.main_thread()
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)} if main_thread else {}
    # Ray's processes inherit these blocked: a terminal's Ctrl-C or hang-up reaches the whole foreground
    # group, and only this process should act on it (stop the run, then stop Ray). Blocked, not ignored:
    # one that arrives during start-up is delivered here afterwards, and Ray's own task cancellation,
    # which simulates SIGINT inside Python, keeps working in the workers.
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGHUP})
    cluster_flag = ray_constants.ENABLE_RAY_CLUSTER
    os.environ.update(env)
    ray_constants.ENABLE_RAY_CLUSTER = False  # read at import; this process imported Ray already
    Config.initialize("")  # Ray's C++ side reads RAY_AUTH_MODE again
    AuthenticationTokenLoader.instance().reset_cache()  # ... and the token: a previous run's is stale
    # Workers start on the first task rather than during ray.init: on 2 cores, prestarting them competes
    # with the GCS and raylet for CPU; measured median start-up of a 10-record run 6.3 s -> 5.8 s.
    system = {"prestart_worker_first_driver": False}
    # ray.init installs SIGTERM handlers of its own (exit 15, or 1 after killing its processes); until
    # it returns, a SIGTERM must reach this process's own handling instead.
    set_sigterm_handler = ray._private.utils.set_sigterm_handler
    ray._private.utils.set_sigterm_handler = lambda handler: None
    try:
        # address="local": a new Ray of our own, even where `ray start` left a cluster that ray.init would join.
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, _system_config=system, **quiet)
    except BaseException:
        _close_watchdog(watchdog)
        raise
    finally:
        ray._private.utils.set_sigterm_handler = set_sigterm_handler
        ray_constants.ENABLE_RAY_CLUSTER = cluster_flag
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        # Ray's init replaces the SIGTERM handler (sys.exit) and its core worker dumps stacks on SIGTERM;
        # the process keeps the handling it had (the CLI's: one line, exit 143).
        for number, handler in handlers.items():
            if handler is not None:
                signal.signal(number, handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    _local = _LocalRay(token, watchdog)


def join_environment() -> dict[str, str]:
    """What another process needs to join the local Ray this process started (tests, tools):
    the token stays in memory, so it must be handed over explicitly."""
    return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": _local.token} if _local is not None else {}


def disconnect() -> None:
    """Stop the local Ray `connect` started (its watchdog removes any process Ray leaves behind)."""
    global _local
    ray.shutdown()
    if _local is not None:
        _close_watchdog(_local.watchdog)
        _local = None


def _close_watchdog(watchdog: Any) -> None:
    try:
        watchdog.stdin.close()  # the watchdog reaps what is left of this Ray, then exits
        watchdog.wait(timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        watchdog.kill()


def _package_path() -> str:
    return os.pathsep.join(p for p in [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")] if p)


def _node() -> str:
    return ray.get_runtime_context().get_node_id()


# SPREAD: tasks go to every node from the start, as Ray Data does for reads; Ray's default would fill
# the driver's node first and leave a cluster idle on small or quick phases.
@ray.remote(num_cpus=1, max_retries=2, scheduling_strategy="SPREAD")
def _task(task: Task, stages: list[MapStage] | None = None) -> Finished:
    """Runs on a worker: the task body, then its done-marker. Retried by Ray only when a worker or
    node dies, never on an exception."""
    return run_task(task, stages, _node())


@ray.remote(num_cpus=0, max_restarts=0)
class _ServiceActor:
    """One client of a service stage (an endpoint), in its own process: its event loop runs many batches
    at once (Ray's async actor), sharing one connection pool and one cap on requests in flight. Needs
    no CPU slot: it waits on the network."""

    def __init__(self, stage: ServiceStage, actor: dict[str, Any], run_dir: str):
        self.client = ServiceClient(stage, actor, run_dir, _node())

    async def run(self, batch: Task) -> Finished:
        return await self.client.run(batch)

    async def close(self) -> dict[str, Any]:
        return await self.client.close()


def _get(ref: Any) -> Any:
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as err:
        cause = getattr(err, "cause", None)
        if isinstance(cause, CurateError):
            raise cause from None
        message = str(cause or err).strip().splitlines()
        raise StageError(f"a task failed: {type(cause).__name__ if cause else 'RayTaskError'}: {message[0] if message else ''}") from err
    except ray.exceptions.RayError as err:  # a worker or node died (after Ray's retries), out of memory, ...
        message = str(err).strip().splitlines()
        raise StageError(f"a task's worker died: {type(err).__name__}: {message[0] if message else ''}; run the same command again to resume") from err
