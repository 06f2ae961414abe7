"""Running a pipeline, split by job (importing this package imports none of them):

    runner.py        Runner.run: the phases in order, top to bottom
    planning.py      chunk sizes, segments of a pipeline, partitions (depend on the input alone)
    checks.py        the input as read against the pipeline: empty files, bad-record share, one schema
    phases.py        a phase's tasks on the executor, skipped when done (resume), progress
    executor.py      the Executor interface; InProcessExecutor (no Ray)
    ray_executor.py  RayExecutor, connect/disconnect: the only module that imports Ray
    watchdog.py      reaps a local Ray however its driver ends
    tasks.py         the task bodies: plain functions over files, with typed specs
    task_results.py  what each task reports: typed results, whose JSON is the task's done-marker
    ledger.py        every record counted: the tasks' reports, then the files read back
    rundir.py        the run directory: lock, prepare, fingerprint, manifest, publish, clear
    exports.py       export stages after the ledger balances
"""
