"""Test-session setup: the same environment as ``python -m llmbook.execute``.

nbval starts one kernel per notebook; kernels inherit this process's environment,
so setting it here makes the test run match the run that stored the outputs.
"""
import matplotlib

from llmbook.execute import notebook_env

notebook_env()
matplotlib.use("Agg")  # unit tests only; kernels keep their inline backend
