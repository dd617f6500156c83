"""What the Python client scripts share (asyncpg_check.py, psycopg_check.py): the typed rows
they round-trip, and how a script names its steps, checks them and reports a mismatch.
"""

import datetime
import decimal
import sys

UTC = datetime.timezone.utc
ROWS = [
    (1, "alpha", datetime.datetime(2024, 2, 29, 12, 30, 1, 123456, tzinfo=UTC),
     decimal.Decimal("12345.678900"), b"\x00\x01\xfe\xff", {"k": [1, 2, {"x": None}]}, None),
    (2, "béta ☃", datetime.datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC),
     decimal.Decimal("-0.5"), b"", [], "note"),
    (3, None, None, None, None, None, None),
]


class Mismatch(Exception):
    """A step saw something other than what it expected."""


def check(cond, what):
    if not cond:
        raise Mismatch(what)


def stepper(driver):
    """A function that announces a step on stderr, prefixed with the driver's name."""
    def step(name):
        print(f"{driver}: {name}", file=sys.stderr, flush=True)
    return step


def run(driver, usage, main):
    """Calls `main(args)` with HOST PORT USER PASSWORD DBNAME from the command line; exits 1
    naming the mismatch if a check fails, or with `usage` if the arguments are wrong."""
    args = sys.argv[1:]
    if len(args) != 5:
        sys.exit(usage)
    try:
        main(args)
    except Mismatch as e:
        sys.exit(f"{driver} check failed: {e}")
