"""`krx daily`'s language: --lang, then $KRX_LANG, then the process locale, else English."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from krx_common.i18n import lang_from_env

KRX = str(Path(sys.executable).with_name("krx"))


@pytest.mark.parametrize(("env", "want"), [
    ({}, "en"),
    ({"LANG": "ko_KR.UTF-8"}, "ko"),
    ({"LANG": "C.UTF-8"}, "en"),
    ({"LANG": "en_US.UTF-8", "LC_ALL": "ko_KR.UTF-8"}, "ko"),  # LC_ALL wins over LANG
    ({"LANG": "ko_KR.UTF-8", "LC_MESSAGES": "en_GB.UTF-8"}, "en"),
    ({"LANG": "ko_KR.UTF-8", "KRX_LANG": "en"}, "en"),  # $KRX_LANG wins over the locale
    ({"LANG": "C", "KRX_LANG": "ko"}, "ko"),
    ({"LANG": "ko_KR.UTF-8", "KRX_LANG": "fr"}, "ko"),  # an unknown KRX_LANG is ignored
])
def test_daily_lang_from_env_follows_krx_lang_then_the_locale(env, want):
    assert lang_from_env(env) == want


def test_krx_daily_morning_text_is_korean_on_a_korean_locale_unless_lang_says_otherwise(
        tmp_path, krx_data_dir):
    env = {k: v for k, v in os.environ.items()
           if k not in ("KRX_LANG", "LC_ALL", "LC_MESSAGES", "LANGUAGE")}
    env["LANG"] = "ko_KR.UTF-8"
    args = [KRX, "daily", "--data", f"csv:{krx_data_dir}", "--asof", "2025-12-29", "--replay",
            "--data-dir", str(tmp_path)]
    ko = subprocess.run(args, capture_output=True, text=True, encoding="utf-8", timeout=180,
                        env=env)
    assert ko.returncode == 0, ko.stderr
    assert "국면" in ko.stdout and "regime " not in ko.stdout, ko.stdout
    en = subprocess.run([*args, "--lang", "en"], capture_output=True, text=True,
                        encoding="utf-8", timeout=180, env=env)
    assert en.returncode == 0, en.stderr
    assert "regime " in en.stdout and "국면" not in en.stdout
