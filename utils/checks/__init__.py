"""Exercise checkers: immediate, specific feedback for learners.

The framework lives in :mod:`utils.checks.core`; each chapter's checkers sit in a module of their
own (``utils.checks.attention`` for chapter 2, …) so that chapters never edit the same file.
"""

from utils.checks.core import NOT_IMPLEMENTED, Case, CheckResult, compare_outputs, run_check

__all__ = ["Case", "CheckResult", "run_check", "compare_outputs", "NOT_IMPLEMENTED"]
