"""`impact design-test`: the lift test that would most narrow a decision's interval, as `POST /design_test` gives it."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from training.cli.common import answer_with_model, band, console, fail, market_list, number_list, read_body, write_json


def design_test(
    app_name: str | None = typer.Option(None, "--app", help="The app (facebook, instagram, whatsapp)."),
    markets: str | None = typer.Option(None, "--markets", help="Candidate markets, e.g. BR,IN (default: every forecastable one)."),
    test_shares: str | None = typer.Option(None, "--test-shares", help="Shares the test arm may run at, e.g. 0.5,1 (default 1)."),
    reference_share: float | None = typer.Option(None, "--reference-share", help="The reference arm's share (default: each market's current share)."),
    durations_weeks: str | None = typer.Option(None, "--durations-weeks", help="Test lengths in weeks, e.g. 4,8 (default 6)."),
    arm_share: float | None = typer.Option(None, "--arm-share", help="Each arm's share of the market's daily users, up to 0.5 (default 0.01)."),
    user_sd: float | None = typer.Option(None, "--user-sd", help="Sd of one user's weekly log time per DAU (default 1)."),
    finish: str | None = typer.Option(None, "--finish", help="The decision: finish these markets' rollouts (to share 1), e.g. BR,IN."),
    decision_horizon: int | None = typer.Option(None, "--decision-horizon-weeks", help="Weeks --finish is valued over (default 26)."),
    cost_low: float | None = typer.Option(None, "--cost-low", help="Serving cost per exposed DAU-week of --finish, USD: lowest."),
    cost_high: float | None = typer.Option(None, "--cost-high", help="Serving cost per exposed DAU-week of --finish, USD: highest."),
    optimise_request: Path | None = typer.Option(None, "--optimise-request", help="The decision: the plan /optimise chooses for this JSON body."),
    tests: int | None = typer.Option(None, "--tests", help="Tests to run at once, in different markets, 1..5 (default 1)."),
    interval: float | None = typer.Option(None, "--interval", help="Central interval level, 0.5..0.99 (default 0.9)."),
    request: Path | None = typer.Option(None, "--request", help="A JSON file with a /design_test body; options given here override it."),
    model_dir: Path | None = typer.Option(None, "--model", help="A saved model folder (default: the registry's champion)."),
    out: Path = typer.Option(Path("design_test.json"), "--out", help="Where to write the whole answer (as /design_test gives it)."),
    top: int = typer.Option(10, "--top", min=1, help="Candidates to print."),
) -> None:
    """Rank candidate lift tests by how much their result is expected to narrow a decision's interval (as
    POST /design_test): standard error, power, narrowing and cost in forgone value; print the best and write
    the answer."""
    from training.design_test import design_test as design
    from training.requests import DesignTestRequest

    if (cost_low is None) != (cost_high is None):
        fail("--cost-low and --cost-high go together")
    body = {} if request is None else read_body(request, "--request", "/design_test")
    decision = dict(body.get("decision") or {})
    if optimise_request is not None:
        decision = {"optimise": read_body(optimise_request, "--optimise-request", "/optimise")}
    for key, value in (("finish", market_list(finish)), ("horizon_weeks", decision_horizon),
                       ("cost", None if cost_low is None else
                        {"per_exposed_dau_week_usd": {"low": cost_low, "high": cost_high}})):
        if value is not None:
            decision[key] = value
    options = {"app": app_name, "markets": market_list(markets),
               "test_shares": number_list(test_shares, "--test-shares"), "reference_share": reference_share,
               "durations_weeks": number_list(durations_weeks, "--durations-weeks", int), "arm_share": arm_share,
               "user_sd": user_sd, "tests": tests, "interval": interval}
    body |= {key: value for key, value in options.items() if value is not None}
    if not decision:
        fail("the decision is missing: give --finish MARKETS or --optimise-request FILE (or decision in --request)")
    body["decision"] = decision
    _, answer, source = answer_with_model(DesignTestRequest, body, model_dir, design)
    write_json(out, answer)
    _print_design(answer, source, out, top)


def _print_design(answer: dict, source: str, out: Path, top: int) -> None:
    decision = answer["decision"]
    unit = "M USD" if decision["objective"] == "ad_revenue_usd" else "M minutes"
    console.print(f"[bold]{answer['app']}[/bold], tests from {answer['first_week']} ({source}); decision: "
                  f"{decision['kind']} {', '.join(decision['markets']) or 'status quo'}, net {band(decision['net'])} "
                  f"{unit} over {decision['horizon_weeks']} weeks, bands at {answer['interval']:.0%}")
    table = Table("rank", "market", "test", "ref", "weeks", "se", "lift", "power", "narrows", f"cost, {unit}",
                  box=None)
    for row in answer["candidates"][:top]:
        table.add_row(str(row["rank"]), row["market"], f"{row['test_share']:.2f}", f"{row['reference_share']:.2f}",
                      str(row["weeks"]), f"{row['standard_error']:.1g}", f"{row['predicted_lift']['mean']:.2g}",
                      f"{row['power']:.0%}", f"{row['narrowing']:.0%}", f"{row['cost']['mean'] / 1e6:,.3f}")
    console.print(table)
    chosen = answer["chosen"]
    names = "; ".join(f"{t['market']} at {t['test_share']:.2f} vs {t['reference_share']:.2f} for {t['weeks']} w"
                      for t in chosen["tests"])
    console.print(f"run {names}: the decision's {answer['interval']:.0%} interval is expected to narrow by "
                  f"{chosen['narrowing']:.0%} (width {decision['width'] / 1e6:,.2f} -> "
                  f"{chosen['expected_width'] / 1e6:,.2f} {unit}); answer written to {out}")
