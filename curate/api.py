"""The Python API, for notebooks and scripts; the CLI is a thin layer over it.

    import curate
    run = curate.run("pipelines/demo.yaml", set=["exact.field=problem"])
    run.stats["kept"]; run.kept().collect(); run.removed(stage="exact").collect(); run.explain("some-id")

    pipeline = curate.Pipeline(
        name="mine", input={"path": "data/*.jsonl"}, output="runs/mine",
        stages=[{"name": "exact", "use": "exact_dedup", "field": "text"}, MyStage("custom")],
    )
    pipeline.run()
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curate.config import PipelineConfig, build_pipeline, load_pipeline
from curate.results import Run
from curate.stages.base import Stage

if TYPE_CHECKING:  # the runner imports Ray: only running a pipeline needs it (stats, explain, export do not)
    from curate.runner.phases import Progress


class Pipeline:
    """A validated pipeline, from YAML or from Python objects (stages may be dicts or `Stage` instances)."""

    def __init__(
        self,
        name: str,
        input: str | list[str] | dict[str, Any],
        output: str | Path,
        stages: list[dict[str, Any] | Stage],
        description: str = "",
    ):
        raw = {"name": name, "input": input, "output": str(output), "stages": stages, "description": description}
        self.config = build_pipeline(raw)

    @classmethod
    def from_config(cls, config: PipelineConfig) -> Pipeline:
        pipeline = cls.__new__(cls)
        pipeline.config = config
        return pipeline

    @classmethod
    def from_yaml(
        cls,
        path: str | Path,
        *,
        set: list[str] | None = None,
        input: str | list[str] | None = None,
        output: str | Path | None = None,
    ) -> Pipeline:
        return cls.from_config(load_pipeline(path, overrides=set, input=input, output=None if output is None else str(output)))

    def run(
        self,
        *,
        ray_address: str | None = None,
        num_cpus: int | None = None,
        overwrite: bool = False,
        progress: Progress | None = None,
        executor: str = "auto",
        report: bool = True,
    ) -> Run:
        """`executor`: "ray" (local, or the cluster at `ray_address`), "in-process" (no Ray: small inputs,
        and stepping through a stage in a debugger), or "auto" (in-process for a small input when no
        Ray is named or connected). `report`: write OUTPUT/report.html (see `curate.report`)."""
        from curate.runner.runner import Runner

        Runner(self.config, ray_address=ray_address, num_cpus=num_cpus, overwrite=overwrite, progress=progress, executor=executor).run()
        result = Run(self.config.output)
        if report:
            from curate.report import write_report

            try:
                write_report(result)
            except Exception as err:  # the run is published and sound; only its page is missing
                logging.getLogger("curate").warning(f"{result.path}: report.html not written ({type(err).__name__}: {err}); `curate report {result.path}` tries again")
        return result

    def __repr__(self) -> str:
        stages = ", ".join(f"{s.name}:{s.use}" for s in self.config.stages)
        return f"Pipeline({self.config.name!r}, stages=[{stages}], output={self.config.output!r})"


def run(
    pipeline: str | Path | Pipeline | dict[str, Any],
    *,
    set: list[str] | None = None,
    input: str | list[str] | None = None,
    output: str | Path | None = None,
    ray_address: str | None = None,
    num_cpus: int | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
    executor: str = "auto",
    report: bool = True,
) -> Run:
    """Run a pipeline (a YAML path, a dict or a `Pipeline`) and return its run directory."""
    if isinstance(pipeline, Pipeline):
        if set or input or output:
            config = build_pipeline(pipeline.config.raw, source=pipeline.config.source, overrides=set, input=input, output=None if output is None else str(output))
            pipeline = Pipeline.from_config(config)
    elif isinstance(pipeline, dict):
        pipeline = Pipeline.from_config(build_pipeline(pipeline, overrides=set, input=input, output=None if output is None else str(output)))
    else:
        pipeline = Pipeline.from_yaml(pipeline, set=set, input=input, output=output)
    return pipeline.run(ray_address=ray_address, num_cpus=num_cpus, overwrite=overwrite, progress=progress, executor=executor, report=report)


def train_classifier(
    output: str,
    *,
    field: str = "text",
    positives: list[str] | None = None,
    negatives: list[str] | None = None,
    data: list[str] | None = None,
    label_field: str | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Train a fastText classifier (labels `positive`/`negative` from the two file lists, or the values
    of `label_field` in `data`); returns held-out precision/recall per label, also saved as OUTPUT.json."""
    from curate import training

    table = training.labelled(field, positives or [], negatives or [], data or [], label_field)
    return training.train(table, output, **options)
