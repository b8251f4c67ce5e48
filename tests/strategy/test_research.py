"""`strategy.research`: the one set-up of a research run (settings + bars), HTTP-free, whose
errors name the input at fault the way a request body does."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from contracts.settings import Settings
from strategy.marketdata.errors import MarketDataError
from strategy.research import (
    DataSpecError,
    ResearchInputError,
    apply_params,
    check_grid_size,
    load_bars,
    prepare_backtest,
    prepare_grid_run,
    tickers_of,
)


def field_of(call) -> str:  # noqa: ANN001
    with pytest.raises(ResearchInputError) as err:
        call()
    assert str(err.value).startswith(f"{err.value.field}: ")
    return err.value.field


def test_the_set_up_checks_name_the_input_at_fault(krx_data_dir: Path) -> None:
    spec = f"csv:{krx_data_dir}"
    base = Settings()
    jan, dec = date(2024, 1, 2), date(2025, 12, 29)
    assert field_of(lambda: prepare_backtest(base, spec, dec, jan)) == "end"
    assert field_of(lambda: apply_params(base, {"rsi_periodd": 3})) == "params.rsi_periodd"
    assert field_of(lambda: apply_params(base, {"rsi_period": 1})) == "params.rsi_period"
    assert field_of(lambda: prepare_grid_run(base, spec, jan, dec, grid={"rsi_period": [30]},
                                             objective="sharp")) == "objective"
    assert field_of(lambda: check_grid_size({"rsi_period": list(range(11))},
                                            max_combinations=100, max_values=10)
                    ) == "grid.rsi_period"
    assert field_of(lambda: check_grid_size({"a": list(range(10)), "b": list(range(11))},
                                            max_combinations=100, max_values=20)) == "grid"
    # A window ending before the data starts names `end` when the run is bounded by today.
    assert field_of(lambda: load_bars(spec, base, date(1990, 1, 5),
                                      today=date(2025, 12, 30))) == "end"
    with pytest.raises(MarketDataError):  # unbounded (the CLI): the provider's own error
        load_bars(spec, base, date(1990, 1, 5))
    with pytest.raises(DataSpecError) as err:
        load_bars("nope:x", base, dec)
    assert err.value.spec == "nope:x"


def test_prepare_applies_params_and_loads_the_universe_and_benchmark(krx_data_dir: Path
                                                                     ) -> None:
    setup = prepare_backtest(Settings(), f"csv:{krx_data_dir}", date(2024, 1, 2),
                             date(2025, 12, 29), params={"rsi_period": 30},
                             universe=["069500", "229200"], today=date(2025, 12, 30))
    assert setup.settings.strategy.rsi_period == 30
    assert set(setup.bars) == set(tickers_of(setup.settings)) == {"069500", "229200"}
    # `today` bounds the bars: none after it, however far `end` lies.
    later = prepare_grid_run(Settings(), f"csv:{krx_data_dir}", date(2024, 1, 2),
                             date(2030, 1, 2), grid={"rsi_period": [30]}, objective="sharpe",
                             today=date(2025, 6, 30))
    assert max(frame.index[-1] for frame in later.bars.values()).date() <= date(2025, 6, 30)
