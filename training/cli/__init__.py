"""`impact`: the command line of engagement-impact, one module per command or family of commands.

User errors (a panel that breaks the contract, a bad option, a bad request file) end in one line on
stderr and exit code 2, never a traceback; a store or warehouse that fails, in one line and exit 1.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from training.cli import data, design_test, optimise, publish, registry, train
from training.cli.common import fail

app = typer.Typer(
    name="impact",
    help="Forecast how AI-feature rollouts move time spent and ad revenue.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
for command in (data.simulate, data.validate, train.train, registry.models, registry.promote, publish.publish,
                optimise.optimise):
    app.command()(command)
app.command(name="design-test")(design_test.design_test)


@app.command()
def serve(
    port: int = typer.Option(3000, "--port", min=1, max=65535, help="Port to listen on."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind (0.0.0.0 for every one)."),
) -> None:
    """Serve the champion model over HTTP (BentoML): the planner page at /, and /forecast, /forecast_batch,
    /response_curve, /attribution, /optimise, /design_test and /model."""
    import shutil
    bentoml = shutil.which("bentoml", path=str(Path(sys.executable).parent)) or shutil.which("bentoml")
    if bentoml is None:
        fail("the bentoml command is not installed in this environment")
    os.execv(bentoml, [bentoml, "serve", "serving.service:EngagementImpact", "--host", host, "--port", str(port)])


def main() -> None:
    """The `impact` command. On the way out the heap is frozen (`gc.freeze`): the interpreter's last
    collection would otherwise walk every object a training made (a second at the end of `impact
    train`), and nothing it could free matters once the process ends."""
    import gc
    try:
        app()
    finally:
        gc.freeze()


if __name__ == "__main__":  # pragma: no cover
    main()
