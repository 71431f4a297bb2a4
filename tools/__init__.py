"""The course's maintenance tools: run them as scripts (`python tools/bench.py ...`) or import them
(`from tools.notebooks import solution_paths`). The package is installed with `utils` and `grading`
(pyproject.toml), so no tool edits `sys.path` to find another."""
