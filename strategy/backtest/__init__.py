"""Backtesting Crisis Alpha: the numba-compiled engine, sweeps, walk-forward and reports.

Submodules import numba and pandas; import them directly (`strategy.backtest.engine`) so that
importing this package stays cheap.
"""
