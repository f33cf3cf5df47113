"""``byoc check IMAGE``: run any image as SageMaker would and report rule by rule.

``rules`` names the rules and their groups, ``probe`` the timed sockets (into a
``--network none`` container's namespace too), ``container`` one container of the image,
``health`` the start-up as SageMaker watches it, ``sniff`` the packets a container tries
to send; one module per group of rules (``image``; ``serving`` runs ``startup``,
``refusals`` and ``pressure`` on one endpoint; ``environments``, ``multimodel``,
``batch``, ``training``, ``marketplace``); ``runner`` one whole check, ``report`` the
table, JUnit and JSON, ``progress`` what is shown while it waits.
"""

from __future__ import annotations

from .options import DEFAULT_SAMPLE, EMPTY_MODEL, CheckOptions, Sample
from .report import Report
from .rules import GROUPS, RULES, Outcome, Rule, Status
from .runner import run_check, select_rules

__all__ = [
    "DEFAULT_SAMPLE",
    "EMPTY_MODEL",
    "GROUPS",
    "RULES",
    "CheckOptions",
    "Outcome",
    "Report",
    "Rule",
    "Sample",
    "Status",
    "run_check",
    "select_rules",
]
