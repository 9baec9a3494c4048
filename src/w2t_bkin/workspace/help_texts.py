"""Texts that ``--help``, prompts and errors quote; a module of its own so that the CLI can
show them without importing the workspace code (``w2t-bkin --help`` stays fast)."""

# The one rule for several people in one value; --help, the prompts and README.md quote it.
NAMES_RULE = (
    'People are separated by ";", each written "Last, First" as NWB recommends '
    '("Doe, Jane; Roe, Rick"). Without ";", "Doe, Jane" is one person and "Jane Doe, Rick Roe" '
    "two; any other list of commas is refused as ambiguous."
)


START_EXAMPLE = (
    "give the wall-clock time of DAQ t=0 with the lab's UTC offset on that day, e.g. "
    "--date 2026-11-21 --start-time 13:45+01:00, or --start-time 13:45 --utc-offset +01:00 "
    "(Berlin is +01:00 in winter and +02:00 in summer)"
)
