"""The instructors' side of grading: reference implementations, the judge, the audit.

This package is not part of what learners get (``tools/grade.py release`` leaves it out): it
holds the answers. ``nbgrader autograde`` loads it through the course directory's
``nbgrader_config.py`` (written by ``tools/grade.py prepare``).
"""
