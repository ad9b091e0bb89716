"""`impact optimise`: the best rollout plan under constraints, as `POST /optimise` gives it."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from training.cli.common import answer_with_model, band, console, fail, market_list, number_list, read_body, write_json


def _optimise_body(request: Path | None, options: dict) -> dict:
    """The /optimise body: the --request file (if any), then every option given on the command line."""
    from training.requests import Constraints
    body = {} if request is None else read_body(request, "--request", "/optimise")
    constraints = body.get("constraints") or {}
    if not isinstance(constraints, dict):
        fail(f"--request: constraints in {request} must be a JSON object")
    constraints = dict(constraints)
    for key, value in options.items():
        if value is None:
            continue
        if key in Constraints.model_fields:
            constraints[key] = value
        else:
            body[key] = value
    if constraints:
        body["constraints"] = constraints
    return body


def optimise(
    app_name: str | None = typer.Option(None, "--app", help="The app (facebook, instagram, whatsapp)."),
    markets: str | None = typer.Option(None, "--markets", help="Markets the plan may change, e.g. BR,IN (default: every forecastable one)."),
    horizon_weeks: int | None = typer.Option(None, "--horizon-weeks", help="Weeks after the last trained week, 1..104 (default 26)."),
    interval: float | None = typer.Option(None, "--interval", help="Central interval level of every band, 0.5..0.99 (default 0.9)."),
    objective: str | None = typer.Option(None, "--objective", help="ad_revenue_usd (default) or minutes."),
    cost_low: float | None = typer.Option(None, "--cost-low", help="Serving cost per exposed DAU-week, USD: lowest."),
    cost_high: float | None = typer.Option(None, "--cost-high", help="Serving cost per exposed DAU-week, USD: highest."),
    max_launches_per_week: int | None = typer.Option(None, "--max-launches-per-week", help="Markets whose share may rise in any one week."),
    max_step: float | None = typer.Option(None, "--max-step", help="Largest weekly rise of a market's share, 0.05..1 (default 1)."),
    target_shares: str | None = typer.Option(None, "--target-shares", help="Shares a market may be taken to, e.g. 0.5,1 (default 1)."),
    earliest: list[str] = typer.Option([], "--earliest", help="MARKET=YYYY-MM-DD: no rise before that week (repeatable)."),
    fixed: str | None = typer.Option(None, "--fixed", help="Markets held at the status quo, e.g. FR,IT."),
    max_exposed_dau: float | None = typer.Option(None, "--max-exposed-dau", help="Cap on exposed DAU summed over the markets in any week."),
    allow_decrease: bool | None = typer.Option(None, "--allow-decrease/--no-decrease", help="Allow target shares below a market's current share."),
    risk: str | None = typer.Option(None, "--risk", help="mean (default) or a quantile q in 0.01..0.5 (maximise the worst q share's mean)."),
    time_limit_seconds: float | None = typer.Option(None, "--time-limit-seconds", help="Solver time limit, 0.1..15 s (default 10)."),
    optimality_gap: float | None = typer.Option(None, "--optimality-gap", help="Stop within this relative gap of the best, 0..0.1 (default 0.001)."),
    request: Path | None = typer.Option(None, "--request", help="A JSON file with an /optimise body; options given here override it."),
    model_dir: Path | None = typer.Option(None, "--model", help="A saved model folder (default: the registry's champion)."),
    out: Path = typer.Option(Path("optimised_plan.json"), "--out", help="Where to write the plan, as a /forecast request body."),
    answer_out: Path | None = typer.Option(None, "--answer", help="Also write the whole answer (as /optimise gives it) here."),
) -> None:
    """Choose the rollout plan with the most net value under constraints (as POST /optimise); print it and
    write it as a /forecast request."""
    from training.optimiser import optimise as optimise_plan
    from training.requests import OptimiseRequest

    if (cost_low is None) != (cost_high is None):
        fail("--cost-low and --cost-high go together")
    dates = {}
    for item in earliest:
        market, sep, week = item.partition("=")
        if not sep:
            fail(f"--earliest {item}: expected MARKET=YYYY-MM-DD")
        dates[market.strip()] = week.strip()
    risk_value = risk
    if risk not in (None, "mean"):
        try:
            risk_value = float(risk)
        except ValueError:
            fail(f"--risk: '{risk}' is neither mean nor a quantile such as 0.1")
    body = _optimise_body(request, {
        "app": app_name, "markets": market_list(markets),
        "horizon_weeks": horizon_weeks, "interval": interval, "objective": objective,
        "cost": None if cost_low is None else {"per_exposed_dau_week_usd": {"low": cost_low, "high": cost_high}},
        "max_launches_per_week": max_launches_per_week, "max_step": max_step, "target_shares": number_list(target_shares, "--target-shares"),
        "earliest": dates or None, "fixed": market_list(fixed),
        "max_exposed_dau": max_exposed_dau, "allow_decrease": allow_decrease, "risk": risk_value,
        "time_limit_seconds": time_limit_seconds, "optimality_gap": optimality_gap})
    checked, answer, source = answer_with_model(OptimiseRequest, body, model_dir, optimise_plan)
    write_json(out, answer["forecast_request"])
    if answer_out is not None:
        write_json(answer_out, answer)
    _print_optimised(answer, checked, source, out)


def _print_optimised(answer: dict, checked, source: str, out: Path) -> None:
    """The plan, its value, the alternatives and the solver's report, as tables."""
    unit = "M USD" if checked.objective == "ad_revenue_usd" else "M minutes"
    console.print(f"[bold]{checked.app}[/bold], {checked.horizon_weeks} weeks from {answer['first_week']} "
                  f"({source}); objective {checked.objective}, risk {checked.risk}, bands at {checked.interval:.0%}")
    table = Table("market", "now", "start", "target", "ramp", f"net, {unit}", box=None)
    for row in answer["by_market"]:
        if row["start_week"] is not None:
            table.add_row(row["market"], f"{row['status_quo_share']:.2f}", row["start_week"], f"{row['target_share']:.2f}",
                          f"{row['ramp_weeks']} w", band(row["net"]))
    console.print(table)
    kept = sum(row["start_week"] is None for row in answer["by_market"])
    console.print(f"{kept} market(s) keep their share")
    value = answer["value"]
    console.print(f"incremental {band(value['incremental'])} {unit}; cost {band(value['cost'])} M USD; "
                  f"net {band(value['net'])} {unit}")
    table = Table("alternative", f"net, {unit}", f"regret, {unit}", "feasible", box=None)
    for alternative in answer["alternatives"]:
        table.add_row(alternative["name"], band(alternative["net"], digits=1), band(alternative["regret"], digits=1),
                      "yes" if alternative["feasible"] else "no")
    console.print(table)
    for alternative in answer["alternatives"]:
        if alternative["violates"]:
            console.print(f"{alternative['name']} breaks {', '.join(alternative['violates'])}")
    runner = answer["runner_up"]
    console.print(f"best on {answer['probability_best']:.0%} of the sample paths (against the feasible alternatives)")
    if runner is not None:
        def decision(d: dict | None) -> str:
            return "status quo" if d is None else f"{d['target_share']:.2f} from {d['start_week']}"
        changes = "; ".join(f"{c['market']} {decision(c['runner_up'])} instead of {decision(c['chosen'])}"
                            for c in runner["changes"])
        console.print(f"runner-up ({changes}): net {band(runner['net'], digits=1)} {unit}, better on "
                      f"{runner['probability_better']:.0%} of the paths")
    solver = answer["solver"]
    gap = "n/a" if solver["gap"] is None else f"{solver['gap']:.2g}"
    console.print(f"{solver['name']}: {solver['status']}, gap {gap}, {solver['seconds']:.2f} s "
                  f"({solver['candidates']} candidates, {solver['paths']} paths); plan written to {out}")
