"""The forecast warehouse: every published model version's forecasts, attribution and the
accuracy of earlier forecasts, as SQL tables for dashboards.

`tables` defines the tables and views, `scenarios` what is forecast, `rows` and `accuracy` the
rows, `publish` the one transaction that writes them. This module holds only the defaults, so
that the command line can show them without importing the model.
"""

DEFAULT_HORIZON_WEEKS = 26      # weeks each standard scenario forecasts
DEFAULT_LEVELS = (0.5, 0.9)     # interval levels every scenario is published at
ATTRIBUTION_LEVEL = 0.9
