"""KIS credentials: the 0600 JSON file named by `KRX_KIS_CREDENTIALS_FILE`, on OCI only.

    {"app_key": "...", "app_secret": "...", "cano": "12345678", "acnt_prdt_cd": "01",
     "kind": "paper"}

A file open to group/others is refused (the rule of every secret file, `read_secret_file`);
the app key and secret never appear in a repr, a str or an error message.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from broker.protocol import BrokerConfigError, BrokerKind
from krx_common.tokens import SecretFileError, read_secret_file

CREDENTIALS_ENV = "KRX_KIS_CREDENTIALS_FILE"
_FIELDS = ("app_key", "app_secret", "cano", "acnt_prdt_cd", "kind")


def mask(secret: str) -> str:
    """What a person may see of a key: its length and last two characters."""
    return f"***{secret[-2:]}({len(secret)})" if len(secret) > 8 else "***"


@dataclass(frozen=True)
class KisCredentials:
    app_key: str = field(repr=False)
    app_secret: str = field(repr=False)
    cano: str
    acnt_prdt_cd: str
    kind: BrokerKind

    def __post_init__(self) -> None:
        if not re.fullmatch(r"\d{8}", self.cano):
            raise BrokerConfigError("KIS_CONFIG", "credentials: cano must be 8 digits")
        if not re.fullmatch(r"\d{2}", self.acnt_prdt_cd):
            raise BrokerConfigError("KIS_CONFIG", "credentials: acnt_prdt_cd must be 2 digits")
        if not self.app_key or not self.app_secret:
            raise BrokerConfigError("KIS_CONFIG", "credentials: app_key and app_secret are "
                                                  "required")

    def __repr__(self) -> str:
        return (f"KisCredentials(app_key={mask(self.app_key)}, app_secret=***, "
                f"account={self.masked_account}, kind={self.kind.value})")

    __str__ = __repr__

    @property
    def masked_account(self) -> str:
        return f"****{self.cano[-4:]}-{self.acnt_prdt_cd}"

    @property
    def secrets(self) -> tuple[str, str]:
        """The values a log filter must mask."""
        return self.app_key, self.app_secret


def load_credentials(path: Path) -> KisCredentials:
    """The credentials in `path`; `BrokerConfigError` naming the file and the field at fault
    (never a value) when the file is missing, open to others, or malformed."""
    try:
        text = read_secret_file(path, "KIS credentials file")
    except SecretFileError as exc:
        raise BrokerConfigError("KIS_CONFIG", str(exc)) from None
    try:
        data = json.loads(text)
    except ValueError:
        raise BrokerConfigError("KIS_CONFIG", f"KIS credentials file {path} is not JSON") \
            from None
    if not isinstance(data, dict):
        raise BrokerConfigError("KIS_CONFIG", f"KIS credentials file {path}: not an object")
    missing = [k for k in _FIELDS if not isinstance(data.get(k), str) or not data.get(k)]
    if missing:
        raise BrokerConfigError(
            "KIS_CONFIG", f"KIS credentials file {path}: {', '.join(missing)} missing or not "
                          f"a string (fields: {', '.join(_FIELDS)})")
    try:
        kind = BrokerKind(data["kind"])
    except ValueError:
        raise BrokerConfigError(
            "KIS_CONFIG", f"KIS credentials file {path}: kind must be paper or real") from None
    return KisCredentials(app_key=data["app_key"], app_secret=data["app_secret"],
                          cano=data["cano"], acnt_prdt_cd=data["acnt_prdt_cd"], kind=kind)
