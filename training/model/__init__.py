"""The estimator: `ImpactModel` (estimator.py), what it fits (fitted.py) and the queries that
read a fitted model (queries.py), with the maths in one module per concept.

Imports numpy, pandas, scipy, statsmodels, scikit-learn, pydantic and `data` only: no MLflow,
BentoML or matplotlib, which belong to the pipeline around it (`training/`).
"""
