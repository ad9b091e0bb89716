// engagement-impact planner. Every number shown is a value from an API answer: the page builds
// requests from what the planner typed, and draws and formats the answers; it computes none of
// its own. Text from answers and inputs goes into the page as text nodes only (never as HTML).
"use strict";

const QUANTITIES = [
  ["time_spent_min", "Time spent per user, min/day"], ["dau", "Daily active users"],
  ["minutes", "Total minutes"], ["ad_revenue_usd", "Ad revenue, USD"]];
const TOTALS = [["minutes", "Total minutes"], ["ad_revenue_usd", "Ad revenue, USD"]];
const COLUMNS = ["status_quo", "scenario", "lo", "hi"];
const TOKEN_KEY = "engagement-impact-token";

const state = {model: null, token: sessionStorage.getItem(TOKEN_KEY), forecast: null, optimise: null,
               planRows: [], sequence: {forecast: 0, optimise: 0, design: 0, attribute: 0, curve: 0}, firstRender: false};
const $ = (id) => document.getElementById(id);

// ------------------------------------------------------------------ DOM helpers (text only)

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) node.append(child);
  return node;
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  return node;
}

function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }

// ------------------------------------------------------------------ formatting (display only)

function short(value, money = false) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  const size = Math.abs(value);
  const [scale, unit] = size >= 1e12 ? [1e12, " T"] : size >= 1e9 ? [1e9, " B"] : size >= 1e6 ? [1e6, " M"]
    : size >= 1e3 ? [1e3, " k"] : [1, ""];
  const number = scale === 1 ? size.toFixed(2) : (size / scale).toPrecision(4);
  return (value < 0 ? "−" : "") + (money ? "$" : "") + number + unit;
}

function percent(value) { return (value * 100).toFixed(2) + "%"; }

function valueCell(value, money, key) {
  return el("td", {"data-value": value, "data-key": key, title: String(value)}, short(value, money));
}

function bandCell(band, money, key) {
  return el("td", {class: "band", "data-key": key, "data-lo": band.lo, "data-hi": band.hi},
            `${short(band.lo, money)} … ${short(band.hi, money)}`);
}

const isMoney = (quantity) => quantity.includes("revenue");

// ------------------------------------------------------------------ the API

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

async function api(path, body) {
  const headers = {"Content-Type": "application/json"};
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  let response;
  try {
    response = await fetch(path, {method: "POST", headers, body: JSON.stringify(body), cache: "no-store"});
  } catch (failure) {
    throw new ApiError(0, {error: `the service did not answer (${failure.message})`});
  }
  let answer;
  try { answer = await response.json(); } catch { answer = {error: `HTTP ${response.status} ${response.statusText}`}; }
  if (response.status === 401) {
    askForToken(answer.error);
    throw new ApiError(401, answer);
  }
  if (!response.ok) throw new ApiError(response.status, answer);
  return answer;
}

// ------------------------------------------------------------------ errors next to their fields

function clearErrors() {
  for (const node of document.querySelectorAll(".field-error")) { node.textContent = ""; node.hidden = true; }
  for (const node of document.querySelectorAll(".invalid")) node.classList.remove("invalid");
  for (const row of state.planRows) row.errorRow.hidden = true;
  $("page-error").hidden = true;
}

// The API names the field first: "plan[2].week: ..." from the model, or pydantic's loc ["plan", 2, "week"].
function problems(error) {
  const detail = error.body && Array.isArray(error.body.detail) ? error.body.detail : null;
  if (detail) return detail.map((d) => ({path: (d.loc || []).map(String), message: d.message || d.msg}));
  const message = error.message;
  const field = message.includes(": ") ? message.slice(0, message.indexOf(": ")) : "";
  return [{path: field.replace(/\[(\d+)\]/g, ".$1").split(".").filter(Boolean), message}];
}

const PLAN_INPUTS = {week: "week", share: "share", ramp_weeks: "ramp", markets: "market"};

function showError(error, fallback) {
  if (error.status === 401) return;
  let first = null;
  for (const {path, message} of problems(error)) {
    let target = null;
    if (path[0] === "plan" && /^\d+$/.test(path[1] || "") && state.planRows[Number(path[1])]) {
      const row = state.planRows[Number(path[1])];
      target = row.error;
      const input = row[PLAN_INPUTS[path[2]]];
      if (input) { input.classList.add("invalid"); first = first || input; }
    }
    for (let n = path.length; !target && n > 0; n--) {
      target = document.querySelector(`[data-error-for="${CSS.escape(path.slice(0, n).join("."))}"]`);
    }
    target = target || document.querySelector(`[data-error-for="${fallback}"]`) || $("page-error");
    target.textContent = target.textContent ? `${target.textContent}\n${message}` : message;
    target.hidden = false;
    if (target.closest("tr")) target.closest("tr").hidden = false;
    first = first || target;
  }
  if (first && first.focus && first.tagName !== "P") first.focus();
  else if (first) first.scrollIntoView({block: "nearest"});
}

function pageError(message) {
  const banner = $("page-error");
  banner.textContent = message;
  banner.hidden = false;
}

// ------------------------------------------------------------------ token

function askForToken(message) {
  $("main").hidden = true;
  $("token-form").hidden = false;
  const problem = document.querySelector('[data-error-for="token"]');
  problem.textContent = state.token ? message || "the token was refused" : "";
  problem.hidden = !state.token;
  $("token").focus();
}

$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  state.token = $("token").value.trim();
  sessionStorage.setItem(TOKEN_KEY, state.token);
  $("token-form").hidden = true;
  start();
});

$("token-change").addEventListener("click", () => askForToken(""));

// ------------------------------------------------------------------ the model and markets

const appInfo = () => state.model.apps[$("app").value];
const marketMode = () => document.querySelector('input[name="market-mode"]:checked').value;

function chosenMarkets() {
  const mode = marketMode();
  if (mode === "region") return [...(appInfo().regions[$("region").value] || [])];
  if (mode === "hand") return [...document.querySelectorAll("#hand-box input:checked")].map((box) => box.value);
  return [];
}

function marketsShown() { return marketMode() === "all" ? appInfo().forecastable_markets : chosenMarkets(); }

function describeModel() {
  const info = appInfo();
  const run = state.model.run_id ? ` · run ${state.model.run_id.slice(0, 12)}` : "";
  $("model-line").textContent = `Model version ${state.model.model_version}${run} · ${$("app").value} trained on `
    + `${info.training_window.first_week} to ${info.training_window.last_week} · forecasts from ${info.forecast_start}`;
}

function fillMarkets() {
  const info = appInfo();
  const region = clear($("region"));
  for (const name of Object.keys(info.regions)) {
    region.append(el("option", {value: name}, `${name} (${info.regions[name].join(", ")})`));
  }
  const hand = clear($("hand-box"));
  for (const market of info.forecastable_markets) {
    hand.append(el("label", {}, el("input", {type: "checkbox", value: market}), market));
  }
  showMarketMode();
}

function showMarketMode() {
  const mode = marketMode();
  $("region-box").hidden = mode !== "region";
  $("hand-box").hidden = mode !== "hand";
  const shown = marketsShown();
  $("chosen-markets").textContent = shown.length ? `${shown.length} markets: ${shown.join(", ")}` : "No market chosen yet.";
  for (const row of state.planRows) fillMarketSelect(row.market, row.market.value);
}

function fillMarketSelect(select, keep) {
  clear(select).append(el("option", {value: ""}, "all"));
  for (const market of marketsShown()) select.append(el("option", {value: market}, market));
  select.value = keep && [...select.options].some((o) => o.value === keep) ? keep : "";
}

function setMarkets(markets) {
  const mode = markets.length === 0 ? "all" : "hand";
  document.querySelector(`input[name="market-mode"][value="${mode}"]`).checked = true;
  for (const box of document.querySelectorAll("#hand-box input")) box.checked = markets.includes(box.value);
  showMarketMode();
}

for (const radio of document.querySelectorAll('input[name="market-mode"]')) radio.addEventListener("change", showMarketMode);
$("region").addEventListener("change", showMarketMode);
$("hand-box").addEventListener("change", showMarketMode);

// ------------------------------------------------------------------ the plan editor

function addPlanRow(values = {}) {
  const n = state.planRows.length;
  const market = el("select", {"aria-label": `Row ${n + 1} market`, "data-col": "market"});
  const week = el("input", {type: "text", "aria-label": `Row ${n + 1} start week`, placeholder: "YYYY-MM-DD",
                            "data-col": "week", inputmode: "numeric", size: 10});
  const share = el("input", {type: "number", "aria-label": `Row ${n + 1} target share`, min: 0, max: 1, step: 0.05,
                             "data-col": "share"});
  const ramp = el("input", {type: "number", "aria-label": `Row ${n + 1} ramp weeks`, min: 1, max: 52, step: 1,
                            "data-col": "ramp"});
  const remove = el("button", {type: "button", "aria-label": `Remove row ${n + 1}`}, "✕");
  fillMarketSelect(market, values.market || "");
  week.value = values.week ?? appInfo().forecast_start;
  share.value = values.share ?? 1;
  ramp.value = values.ramp ?? 1;
  const tr = el("tr", {class: "plan-row"}, el("td", {}, market), el("td", {}, week), el("td", {}, share),
                el("td", {}, ramp), el("td", {}, remove));
  const error = el("p", {class: "error field-error", role: "alert", hidden: true});
  const errorRow = el("tr", {class: "plan-row-error", hidden: true}, el("td", {colspan: 5}, error));
  const row = {tr, errorRow, error, market, week, share, ramp};
  remove.addEventListener("click", () => {
    state.planRows.splice(state.planRows.indexOf(row), 1);
    tr.remove(); errorRow.remove();
    (state.planRows[0] ? state.planRows[0].week : $("add-row")).focus();
  });
  $("plan-rows").append(tr, errorRow);
  state.planRows.push(row);
  return row;
}

function setPlanRows(rows) {
  clear($("plan-rows"));
  state.planRows = [];
  rows.forEach((values) => addPlanRow(values));
}

$("add-row").addEventListener("click", () => addPlanRow().week.focus());

const numberOrNull = (input) => (input.value.trim() === "" ? null : Number(input.value));

function forecastRequest() {
  const plan = state.planRows.map((row) => {
    const point = {week: row.week.value.trim(), share: numberOrNull(row.share)};
    if (row.market.value) point.markets = [row.market.value];
    const ramp = numberOrNull(row.ramp);
    if (ramp !== 1) point.ramp_weeks = ramp;
    return point;
  });
  return {app: $("app").value, markets: chosenMarkets(), horizon_weeks: numberOrNull($("horizon")), plan,
          interval: Number($("interval").value)};
}

function curlFor(path, body) {
  const json = JSON.stringify(body).replaceAll("'", "'\\''");
  const auth = state.token ? ` \\\n  -H "Authorization: Bearer $IMPACT_API_TOKEN"` : "";
  return `curl -s -X POST ${location.origin}${path} \\\n  -H 'Content-Type: application/json'${auth} \\\n  -d '${json}'`;
}

function download(name, type, text) {
  const link = el("a", {href: URL.createObjectURL(new Blob([text], {type})), download: name});
  document.body.append(link);
  link.click();
  setTimeout(() => { URL.revokeObjectURL(link.href); link.remove(); }, 1000);
}

$("download-plan").addEventListener("click", () => {
  const body = forecastRequest();
  download(`plan-${body.app}.json`, "application/json", JSON.stringify(body, null, 2) + "\n");
});

// A saved plan (a /forecast body, as "Download plan" writes it) back into the editor: one row per
// market a point names (a point without markets is an "all" row), then its forecast.
$("load-plan").addEventListener("change", async () => {
  const file = $("load-plan").files[0];
  $("load-plan").value = "";
  if (!file) return;
  clearErrors();
  let body;
  try {
    body = JSON.parse(await file.text());
    if (typeof body !== "object" || body === null || !Array.isArray(body.plan || [])) throw new Error("no plan list");
  } catch (failure) {
    showError(new ApiError(400, {error: `plan: ${file.name} is not a saved plan (${failure.message})`}), "plan");
    return;
  }
  if (body.app && body.app !== $("app").value) {
    if (!state.model.apps[body.app]) {
      showError(new ApiError(400, {error: `plan: ${file.name} is for the app ${body.app}, which this model does not have`}), "plan");
      return;
    }
    $("app").value = body.app;
    describeModel();
    fillMarkets();
  }
  if (body.horizon_weeks !== undefined) $("horizon").value = body.horizon_weeks;
  if (body.interval !== undefined) $("interval").value = String(body.interval);
  setMarkets(body.markets || []);
  const missing = (body.markets || []).filter((market) => !chosenMarkets().includes(market));
  if (missing.length) {
    showError(new ApiError(400, {error: `markets: ${missing.join(", ")} in ${file.name} cannot be forecast by this model`}), "plan");
    return;
  }
  setPlanRows((body.plan || []).flatMap((point) => (point.markets && point.markets.length ? point.markets : [""]).map(
    (market) => ({market, week: point.week, share: point.share, ramp: point.ramp_weeks ?? 1}))));
  runForecast();
});

$("copy-curl").addEventListener("click", async () => {
  const text = curlFor("/forecast", forecastRequest());
  $("curl").textContent = text;
  $("curl-box").open = true;
  try {
    await navigator.clipboard.writeText(text);
    $("curl-status").textContent = "Copied. Set IMPACT_API_TOKEN in the shell if the service needs a token.";
  } catch {
    getSelection().selectAllChildren($("curl"));
    $("curl-status").textContent = "Selected: press Ctrl+C (or ⌘C) to copy.";
  }
});

// ------------------------------------------------------------------ forecast

// One request from a form: its button off and a status line while it runs, errors by their fields,
// and an answer overtaken by a newer request of the same kind dropped.
async function ask(kind, path, body, {button, status, working, refused, render}) {
  const sequence = ++state.sequence[kind];
  clearErrors();
  $(button).disabled = true;
  $(status).textContent = working;
  try {
    const answer = await api(path, body);
    if (sequence === state.sequence[kind]) render(answer);
  } catch (error) {
    if (sequence !== state.sequence[kind]) return;
    $(status).textContent = `${refused} was refused: see the message by the field.`;
    showError(error, kind);
  } finally {
    if (sequence === state.sequence[kind]) $(button).disabled = false;
  }
}

// The charts show this many observed weeks before the forecast (the request's `history_weeks`; the
// plan file and the curl are the plan itself, without it).
const HISTORY_WEEKS = 52;

async function runForecast() {
  const body = forecastRequest();
  $("curl").textContent = curlFor("/forecast", body);
  $("results").setAttribute("aria-busy", "true");
  await ask("forecast", "/forecast", {...body, history_weeks: HISTORY_WEEKS}, {button: "run-forecast",
    status: "forecast-status", working: "Forecasting…",
    refused: "The forecast", render: (answer) => { state.forecast = answer; renderForecast(answer); }});
  if (!$("run-forecast").disabled) $("results").setAttribute("aria-busy", "false");
}

$("plan").addEventListener("submit", (event) => { event.preventDefault(); runForecast(); });

function renderForecast(answer) {
  const weekly = answer.weekly;
  const last = weekly[weekly.length - 1].week;
  $("forecast-status").textContent = `Model ${answer.model_version} · ${answer.app} · weeks ${answer.first_week} to `
    + `${last} · ${Math.round(answer.interval * 100)}% intervals`;
  const body = clear($("totals-body"));
  $("totals-band").textContent = `Incremental, ${Math.round(answer.interval * 100)}% band`;
  for (const [quantity, label] of TOTALS) {
    const total = answer.totals[quantity];
    const money = isMoney(quantity);
    body.append(el("tr", {"data-quantity": quantity}, el("th", {scope: "row"}, label),
      valueCell(total.status_quo.mean, money, `${quantity}.status_quo.mean`),
      valueCell(total.scenario.mean, money, `${quantity}.scenario.mean`),
      valueCell(total.incremental.mean, money, `${quantity}.incremental.mean`),
      bandCell(total.incremental, money, `${quantity}.incremental.band`)));
  }
  $("totals").hidden = false;
  const view = $("view");
  const keep = view.value;
  clear(view).append(el("option", {value: "ALL"}, "All chosen markets together"));
  for (const market of new Set(weekly.map((row) => row.market))) {
    if (market !== "ALL") view.append(el("option", {value: market}, market));
  }
  view.value = [...view.options].some((o) => o.value === keep) ? keep : "ALL";
  $("download-csv").disabled = false;
  renderView();
  if (!state.firstRender) {
    state.firstRender = true;
    performance.mark("impact:first-render");
    document.body.dataset.ready = "true";
  }
}

function renderView() {
  const market = $("view").value;
  const rows = state.forecast.weekly.filter((row) => row.market === market);
  const past = (state.forecast.history || []).filter((row) => row.market === market);
  const none = past.map(() => null);
  const charts = clear($("charts"));
  for (const [quantity, label] of QUANTITIES) {
    charts.append(chart(label, [...past.map((row) => row.week), ...rows.map((row) => row.week)], {
      band: [[...none, ...rows.map((row) => row[quantity].lo)], [...none, ...rows.map((row) => row[quantity].hi)]],
      lines: [["hist", [...past.map((row) => row[quantity]), ...rows.map(() => null)]],
              ["base", [...none, ...rows.map((row) => row[quantity].status_quo)]],
              ["plan", [...none, ...rows.map((row) => row[quantity].scenario)]]],
      money: isMoney(quantity),
      legend: ["observed", "status quo", "plan", `${Math.round(state.forecast.interval * 100)}% band`]}));
  }
  renderCurve(market);
  const table = clear($("weekly"));
  const head = el("tr", {}, el("th", {scope: "col"}, "Week"), el("th", {scope: "col"}, "Share"));
  for (const [, label] of QUANTITIES) {
    for (const column of ["status quo", "plan", "lo", "hi"]) head.append(el("th", {scope: "col"}, `${label}: ${column}`));
  }
  table.append(el("thead", {}, head));
  const body = el("tbody");
  for (const row of rows) {
    const tr = el("tr", {}, el("td", {}, row.week), el("td", {"data-value": row.rollout_share}, String(row.rollout_share)));
    for (const [quantity] of QUANTITIES) {
      for (const column of COLUMNS) tr.append(valueCell(row[quantity][column], isMoney(quantity), `${quantity}.${column}`));
    }
    body.append(tr);
  }
  table.append(body);
}

$("view").addEventListener("change", renderView);

function forecastCsv(answer) {
  const header = ["week", "market", "rollout_share"];
  for (const [quantity] of QUANTITIES) for (const column of COLUMNS) header.push(`${quantity}_${column}`);
  const lines = [header.join(",")];
  for (const row of answer.weekly) {
    const cells = [row.week, row.market, String(row.rollout_share)];
    for (const [quantity] of QUANTITIES) for (const column of COLUMNS) cells.push(String(row[quantity][column]));
    lines.push(cells.join(","));
  }
  return lines.join("\n") + "\n";
}

$("download-csv").addEventListener("click", () => {
  const answer = state.forecast;
  download(`forecast-${answer.app}-v${answer.model_version}.csv`, "text/csv", forecastCsv(answer));
});

// ------------------------------------------------------------------ charts (SVG, drawn from the answer's values)

// `lines`: [kind, values] with null where a series has no value (history before a forecast); `legend`:
// a label per line, then the band's.
const KEYS = {hist: "· · ", base: "- - ", plan: "— "};

function chart(title, weeks, {band, lines, money, legend}) {
  const width = 520, height = 210, left = 62, right = 10, top = 10, bottom = 26;
  const values = [...band[0], ...band[1], ...lines.flatMap(([, v]) => v)].filter((v) => v !== null);
  let low = Math.min(...values), high = Math.max(...values);
  if (high === low) { high += 1; low -= 1; }
  const x = (i) => left + (weeks.length > 1 ? (i * (width - left - right)) / (weeks.length - 1) : (width - left - right) / 2);
  const y = (v) => top + ((high - v) * (height - top - bottom)) / (high - low);
  const picture = svg("svg", {class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img",
                              "aria-label": `${title}: ${legend.join(", ")}`});
  picture.append(svg("line", {class: "axis", x1: left, y1: height - bottom, x2: width - right, y2: height - bottom}));
  const points = (series) => series.flatMap((v, i) => (v === null ? [] : [`${x(i)},${y(v)}`]));
  picture.append(svg("polygon", {class: "band", points: [...points(band[1]), ...points(band[0]).reverse()].join(" ")}));
  for (const [kind, series] of lines) {
    picture.append(svg("polyline", {class: kind, points: points(series).join(" ")}));
  }
  const label = (text, attrs) => { const t = svg("text", attrs); t.textContent = text; picture.append(t); };
  label(short(high, money), {x: left - 6, y: top + 9, "text-anchor": "end"});
  label(short(low, money), {x: left - 6, y: height - bottom, "text-anchor": "end"});
  label(weeks[0], {x: left, y: height - 8});
  label(weeks[weeks.length - 1], {x: width - right, y: height - 8, "text-anchor": "end"});
  const key = el("p", {class: "legend"}, ...lines.flatMap(([kind], i) => [el("span", {class: `k-${kind}`}, KEYS[kind]),
                                                                         `${legend[i]}  `]),
                 el("span", {}, "▮ "), legend[lines.length]);
  return el("figure", {}, el("figcaption", {}, title), picture, key);
}

// ------------------------------------------------------------------ a market's response curve

// For one market under Show: /response_curve over the forecast's horizon and interval, the
// incremental minutes and ad revenue of taking it from its share to each target up to 1.
async function renderCurve(market) {
  const box = clear($("curve"));
  if (market === "ALL") {
    box.append(el("p", {class: "muted"}, "Choose one market under Show to see its response curve."));
    return;
  }
  const body = {app: state.forecast.app, market, horizon_weeks: state.forecast.weekly.filter((r) => r.market === market).length,
                interval: state.forecast.interval, points: 11};
  const sequence = ++state.sequence.curve;
  box.setAttribute("aria-busy", "true");
  let answer;
  try {
    answer = await api("/response_curve", body);
  } catch (error) {
    if (sequence === state.sequence.curve) box.append(el("p", {class: "error"}, `The response curve was refused: ${error.message}`));
    return;
  } finally {
    if (sequence === state.sequence.curve) box.setAttribute("aria-busy", "false");
  }
  if (sequence !== state.sequence.curve) return;
  state.curve = answer;
  const shares = answer.share.map((share) => share.toFixed(2));
  box.append(el("p", {class: "muted", id: "curve-status"}, `${market}: from its share of ${shares[0]} to 1 in `
    + `${answer.first_week}, held for ${answer.horizon_weeks} weeks; incremental over its status quo, `
    + `${Math.round(answer.level * 100)}% band.`));
  const figures = el("div", {class: "charts"});
  for (const [quantity, label] of [["minutes", "Incremental minutes"], ["ad_revenue_usd", "Incremental ad revenue"]]) {
    const curve = answer[quantity];
    figures.append(chart(`${label} by target share`, shares, {band: [curve.lo, curve.hi], lines: [["plan", curve.mean]],
      money: isMoney(quantity), legend: ["point", `${Math.round(answer.level * 100)}% band`]}));
  }
  const table = el("table", {class: "weekly", id: "curve-table"});
  table.append(el("thead", {}, el("tr", {}, ...["Target share", "Minutes", "lo", "hi", "Ad revenue", "lo", "hi"].map(
    (text) => el("th", {scope: "col"}, text)))));
  const rows = el("tbody");
  answer.share.forEach((share, i) => {
    const tr = el("tr", {}, el("td", {"data-value": share}, shares[i]));
    for (const quantity of ["minutes", "ad_revenue_usd"]) {
      for (const column of ["mean", "lo", "hi"]) tr.append(valueCell(answer[quantity][column][i], isMoney(quantity), `${quantity}.${column}`));
    }
    rows.append(tr);
  });
  table.append(rows);
  box.append(figures, el("details", {}, el("summary", {}, "Response curve table"), el("div", {class: "scroll"}, table)));
}

// ------------------------------------------------------------------ optimiser

function listOf(text) { return text.split(/[,\s]+/).filter(Boolean); }

// "DE=2027-03-01, FR=2027-01-04" as {"DE": "2027-03-01", "FR": "2027-01-04"} (the API checks each).
function earliestOf(text) {
  return Object.fromEntries(listOf(text).map((pair) => [pair.split("=")[0], pair.split("=").slice(1).join("=")]));
}

function optimiseRequest() {
  const constraints = {max_step: numberOrNull($("max-step")),
                       target_shares: listOf($("target-shares").value).map((v) => (Number.isNaN(Number(v)) ? v : Number(v))),
                       fixed: listOf($("fixed").value), earliest: earliestOf($("earliest").value),
                       allow_decrease: $("allow-decrease").checked};
  const launches = numberOrNull($("max-launches"));
  if (launches !== null) constraints.max_launches_per_week = launches;
  const exposed = numberOrNull($("max-exposed"));
  if (exposed !== null) constraints.max_exposed_dau = exposed;
  const body = {app: $("app").value, markets: chosenMarkets(), horizon_weeks: numberOrNull($("horizon")),
                interval: Number($("interval").value), objective: $("objective").value, constraints,
                risk: $("risk").value === "mean" ? "mean" : Number($("risk").value),
                time_limit_seconds: numberOrNull($("time-limit"))};
  const low = numberOrNull($("cost-low")), high = numberOrNull($("cost-high"));
  if (low !== null || high !== null) body.cost = {per_exposed_dau_week_usd: {low: low ?? high, high: high ?? low}};
  return body;
}

function runOptimiser() {
  $("apply-plan").disabled = true;
  return ask("optimise", "/optimise", optimiseRequest(), {button: "run-optimiser", status: "optimiser-status",
    working: "Optimising…", refused: "The optimiser", render: (answer) => {
      state.optimise = answer;
      renderOptimiser(answer);
      $("apply-plan").disabled = false;
    }});
}

$("optimiser").addEventListener("submit", (event) => { event.preventDefault(); runOptimiser(); });

function meanBandRow(label, value, money, key) {
  return el("tr", {"data-key": key}, el("th", {scope: "row"}, label), valueCell(value.mean, money, `${key}.mean`),
            bandCell(value, money, `${key}.band`));
}

function renderOptimiser(answer) {
  const money = answer.objective === "ad_revenue_usd";
  const level = `${Math.round(answer.interval * 100)}% band`;
  const value = clear($("optimiser-value"));
  value.append(el("caption", {}, `The chosen plan over ${answer.horizon_weeks} weeks from ${answer.first_week} `
                                   + `(${answer.objective}, risk ${answer.risk})`),
               el("thead", {}, el("tr", {}, el("th", {}), el("th", {scope: "col"}, "Mean"), el("th", {scope: "col"}, level))));
  const body = el("tbody", {}, meanBandRow("Incremental", answer.value.incremental, money, "value.incremental"),
                  meanBandRow("Serving cost", answer.value.cost, true, "value.cost"),
                  meanBandRow("Net", answer.value.net, money, "value.net"));
  if (answer.value.net_at_risk) {
    body.append(el("tr", {}, el("th", {scope: "row"}, "Net at risk (CVaR)"),
                   valueCell(answer.value.net_at_risk.cvar, money, "value.net_at_risk.cvar"), el("td")));
  }
  value.append(body);

  const markets = clear($("optimiser-markets"));
  markets.append(el("thead", {}, el("tr", {}, ...["Market", "Share now", "Start week", "Target", "Ramp weeks",
    "Incremental", "Cost", "Net", `Net, ${level}`].map((h) => el("th", {scope: "col"}, h)))));
  const rows = el("tbody");
  for (const m of answer.by_market) {
    rows.append(el("tr", {"data-market": m.market}, el("td", {}, m.market), el("td", {}, String(m.status_quo_share)),
      el("td", {"data-key": "start_week"}, m.start_week ?? "stays"), el("td", {}, m.target_share === null ? "–" : String(m.target_share)),
      el("td", {}, m.ramp_weeks === null ? "–" : String(m.ramp_weeks)), valueCell(m.incremental.mean, money, "incremental.mean"),
      valueCell(m.cost.mean, true, "cost.mean"), valueCell(m.net.mean, money, "net.mean"), bandCell(m.net, money, "net.band")));
  }
  markets.append(rows);

  const alternatives = clear($("optimiser-alternatives"));
  alternatives.append(el("thead", {}, el("tr", {}, ...["Plan", "Feasible", "Net", `Net, ${level}`, "Regret"]
    .map((h) => el("th", {scope: "col"}, h)))));
  const alternativeRows = el("tbody");
  for (const a of answer.alternatives) {
    alternativeRows.append(el("tr", {"data-name": a.name}, el("td", {title: a.description}, `${a.name}: ${a.description}`),
      el("td", {}, a.feasible ? "yes" : `no (${a.violates.join(", ")})`), valueCell(a.net.mean, money, "net.mean"),
      bandCell(a.net, money, "net.band"), valueCell(a.regret.mean, money, "regret.mean")));
  }
  alternatives.append(alternativeRows);

  const runner = answer.runner_up;
  const changes = runner ? runner.changes.map((c) => `${c.market} ${c.chosen.start_week ?? "stays"} → `
    + `${c.runner_up.start_week ?? "stays"}`).join("; ") : "";
  $("optimiser-certainty").textContent = `Probability this plan is the best on the sample paths: `
    + `${percent(answer.probability_best)}.` + (runner ? ` Runner-up (${changes}): net ${short(runner.net.mean, money)}, `
    + `better on ${percent(runner.probability_better)} of the paths.` : "");
  const s = answer.solver;
  $("optimiser-solver").textContent = `${s.name}: ${s.status}, gap ${s.gap}, ${s.seconds} s, ${s.candidates} candidates, `
    + `starts every ${s.start_every_weeks} week(s), ${s.paths} paths.`;
  $("optimiser-status").textContent = `Model ${answer.model_version} · ${answer.app}`;
  $("optimiser-result").hidden = false;
}

$("apply-plan").addEventListener("click", () => {
  const answer = state.optimise;
  const request = answer.forecast_request;
  $("horizon").value = request.horizon_weeks;
  $("interval").value = String(request.interval);
  if (JSON.stringify(chosenMarkets()) !== JSON.stringify(request.markets)) setMarkets(request.markets);
  setPlanRows(answer.by_market.filter((m) => m.start_week !== null)
    .map((m) => ({market: m.market, week: m.start_week, share: m.target_share, ramp: m.ramp_weeks})));
  $("forecast-status").textContent = "Applied the optimiser's plan.";
  runForecast();
  $("results").scrollIntoView({block: "start"});
});

// ------------------------------------------------------------------ lift test design

const DESIGN_ROWS = 10;     // candidates shown (the answer ranks every one)

function designRequest() {
  const kind = document.querySelector('input[name="decision-kind"]:checked').value;
  const asNumbers = (text) => listOf(text).map((v) => (Number.isNaN(Number(v)) ? v : Number(v)));
  const decision = kind === "finish" ? {finish: listOf($("finish").value), horizon_weeks: numberOrNull($("horizon"))}
                                     : {optimise: optimiseRequest()};
  const low = numberOrNull($("cost-low")), high = numberOrNull($("cost-high"));
  if (kind === "finish" && (low !== null || high !== null)) {
    decision.cost = {per_exposed_dau_week_usd: {low: low ?? high, high: high ?? low}};
  }
  return {app: $("app").value, markets: chosenMarkets(), test_shares: asNumbers($("test-shares").value),
          durations_weeks: asNumbers($("durations").value), arm_share: numberOrNull($("arm-share")),
          tests: numberOrNull($("tests-at-once")), interval: Number($("interval").value), decision};
}

function runDesign() {
  return ask("design", "/design_test", designRequest(), {button: "run-design", status: "design-status",
    working: "Designing…", refused: "The design", render: renderDesign});
}

$("design").addEventListener("submit", (event) => { event.preventDefault(); runDesign(); });

function renderDesign(answer) {
  const d = answer.decision;
  const money = d.objective === "ad_revenue_usd";
  const level = `${Math.round(answer.interval * 100)}% band`;
  const chosen = answer.chosen;
  const tests = chosen.tests.map((t) => `${t.market} at ${t.test_share} against ${t.reference_share} for ${t.weeks} weeks`);
  $("design-summary").textContent = `Decision (${d.kind}: ${d.markets.join(", ") || "status quo"}): net `
    + `${short(d.net.mean, money)}, ${level} ${short(d.net.lo, money)} to ${short(d.net.hi, money)}. Run ${tests.join("; ")}: `
    + `the decision's ${level} is expected to narrow by ${percent(chosen.narrowing)} (width ${short(d.width, money)} → `
    + `${short(chosen.expected_width, money)}).`;
  const table = clear($("design-candidates"));
  table.append(el("caption", {}, `The ${Math.min(DESIGN_ROWS, answer.candidates.length)} best of ${answer.candidates.length} `
                                   + `candidate tests, from ${answer.first_week}`),
               el("thead", {}, el("tr", {}, ...["Rank", "Market", "Test share", "Reference", "Weeks", "Standard error",
                 "Predicted lift", `Lift, ${level}`, "Power", "Narrows by", "Cost", `Cost, ${level}`]
                 .map((h) => el("th", {scope: "col"}, h)))));
  const rows = el("tbody");
  const lift = (v) => v.toPrecision(2);
  for (const c of answer.candidates.slice(0, DESIGN_ROWS)) {
    rows.append(el("tr", {"data-rank": String(c.rank), "data-market": c.market},
      el("td", {}, String(c.rank)), el("td", {class: "text"}, c.market), el("td", {}, String(c.test_share)),
      el("td", {}, String(c.reference_share)), el("td", {}, String(c.weeks)), el("td", {}, lift(c.standard_error)),
      el("td", {"data-key": "predicted_lift.mean"}, lift(c.predicted_lift.mean)),
      el("td", {}, `${lift(c.predicted_lift.lo)} to ${lift(c.predicted_lift.hi)}`),
      el("td", {"data-key": "power"}, percent(c.power)), el("td", {"data-key": "narrowing"}, percent(c.narrowing)),
      valueCell(c.cost.mean, money, "cost.mean"), bandCell(c.cost, money, "cost.band")));
  }
  table.append(rows);
  $("design-status").textContent = `Model ${answer.model_version} · ${answer.app}`;
  $("design-result").hidden = false;
}

// ------------------------------------------------------------------ attribution

function runAttribution() {
  const text = (input) => (input.value.trim() === "" ? null : input.value.trim());
  const body = {app: $("app").value, markets: chosenMarkets(), start: text($("attr-start")), end: text($("attr-end")),
                interval: Number($("interval").value)};
  return ask("attribute", "/attribution", body, {button: "run-attribution", status: "attribution-status",
    working: "Attributing…", refused: "The attribution", render: renderAttribution});
}

$("attribution").addEventListener("submit", (event) => { event.preventDefault(); runAttribution(); });

function renderAttribution(answer) {
  const level = `${Math.round(answer.interval * 100)}% band`;
  const totals = clear($("attribution-totals"));
  totals.append(el("caption", {}, `Weeks ${answer.start} to ${answer.end}, chosen markets together`),
                el("thead", {}, el("tr", {}, ...["", "Observed", "Incremental", level, "Lift"].map((h) => el("th", {scope: "col"}, h)))));
  const body = el("tbody");
  for (const [quantity, label] of TOTALS) {
    const t = answer.totals[quantity];
    const money = isMoney(quantity);
    body.append(el("tr", {"data-quantity": quantity}, el("th", {scope: "row"}, label),
      valueCell(t.observed, money, `${quantity}.observed`), valueCell(t.incremental.mean, money, `${quantity}.incremental.mean`),
      bandCell(t.incremental, money, `${quantity}.incremental.band`), el("td", {}, percent(t.relative_lift))));
  }
  for (const [part, label] of [["via_engagement", "of which via engagement"], ["direct", "of which direct"]]) {
    const t = answer.totals.ad_revenue_usd[part];
    body.append(el("tr", {"data-quantity": `ad_revenue_usd.${part}`}, el("th", {scope: "row"}, label), el("td"),
      valueCell(t.mean, true, `ad_revenue_usd.${part}.mean`), bandCell(t, true, `ad_revenue_usd.${part}.band`), el("td")));
  }
  totals.append(body);
  clear($("attribution-chart")).append(chart("Incremental ad revenue per week, USD", answer.weekly.map((r) => r.week), {
    band: [answer.weekly.map((r) => r.incremental_ad_revenue_usd_lo), answer.weekly.map((r) => r.incremental_ad_revenue_usd_hi)],
    lines: [["plan", answer.weekly.map((r) => r.incremental_ad_revenue_usd)]], money: true,
    legend: ["", "incremental", level]}));
  const markets = clear($("attribution-markets"));
  markets.append(el("thead", {}, el("tr", {}, ...["Market", "Observed minutes", "Incremental minutes", level,
    "Observed revenue", "Incremental revenue", level, "Via engagement", "Direct"].map((h) => el("th", {scope: "col"}, h)))));
  const rows = el("tbody");
  for (const m of answer.by_market) {
    rows.append(el("tr", {"data-market": m.market}, el("td", {}, m.market),
      valueCell(m.observed_minutes, false, "observed_minutes"), valueCell(m.incremental_minutes, false, "incremental_minutes"),
      bandCell({lo: m.incremental_minutes_lo, hi: m.incremental_minutes_hi}, false, "incremental_minutes.band"),
      valueCell(m.observed_ad_revenue_usd, true, "observed_ad_revenue_usd"),
      valueCell(m.incremental_ad_revenue_usd, true, "incremental_ad_revenue_usd"),
      bandCell({lo: m.incremental_ad_revenue_usd_lo, hi: m.incremental_ad_revenue_usd_hi}, true, "incremental_ad_revenue_usd.band"),
      valueCell(m.ad_revenue_usd_via_engagement, true, "ad_revenue_usd_via_engagement"),
      valueCell(m.ad_revenue_usd_direct, true, "ad_revenue_usd_direct")));
  }
  markets.append(rows);
  $("attribution-status").textContent = `Model ${answer.model_version} · ${answer.app}`;
  $("attribution-result").hidden = false;
}

// ------------------------------------------------------------------ start

function chooseApp() {
  describeModel();
  fillMarkets();
  setPlanRows([{}]);
  state.forecast = null;
  state.optimise = null;
  $("optimiser-result").hidden = true;
  $("design-result").hidden = true;
  $("attribution-result").hidden = true;
  $("apply-plan").disabled = true;
  runForecast();
}

$("app").addEventListener("change", chooseApp);

async function start() {
  try {
    state.model = await api("/model", {});
  } catch (error) {
    if (error.status !== 401) pageError(`The model could not be loaded: ${error.message}`);
    return;
  }
  $("token-change").hidden = !state.token;
  const apps = clear($("app"));
  for (const app of Object.keys(state.model.apps)) apps.append(el("option", {value: app}, app));
  $("main").hidden = false;
  chooseApp();
}

start();
