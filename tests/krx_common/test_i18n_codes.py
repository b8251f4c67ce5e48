"""Every code the system words has its words in the one catalogue, KO and EN: Telegram labels,
the risk codes emitted anywhere, the ticket event codes."""

from __future__ import annotations

from krx_common.i18n import TEXT, has, text


def test_telegram_labels_live_in_the_one_catalogue():
    from oci_backend.telegram import texts

    # texts.py keeps no table of its own: every label is the catalogue's `tg.<key>`
    assert not any(isinstance(v, dict) and v and all(isinstance(p, tuple) for p in v.values())
                   for v in vars(texts).values())
    keys = [k for k in TEXT if k.startswith("tg.")]
    assert len(keys) > 50
    for key in keys:
        short = key[len("tg."):]
        assert texts.t(short, "ko") == text(key, "ko")
        assert texts.t(short, "en") == text(key, "en")
        assert texts.t(short, "ko") != texts.t(short, "en") or short in ("audit_usage",)
    assert texts.t("stopped", "ko") == "비상정지를 켰습니다."
    assert has("tg.help")
