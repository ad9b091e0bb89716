"""Estimation, backtesting, the training pipeline and the `impact` command line.

Imports from `data` only; `serving` imports from here.
"""
