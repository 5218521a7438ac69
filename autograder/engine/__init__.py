"""The grading engine: one notebook run with the trusted checker and the sandboxed student worker.

- :mod:`~autograder.engine.run`: :func:`run_notebook`, what grading and the self-check call;
- :mod:`~autograder.engine.checker`: the trusted side (instructor's cells and tests);
- :mod:`~autograder.engine.worker`: the student's side (a plain script in the sandbox);
- :mod:`~autograder.engine.rpc`: the call protocol between them;
- :mod:`~autograder.engine.sandbox`: bubblewrap, limits, forbidden modules;
- :mod:`~autograder.engine.guard`: the forbidden-module import hook of the worker, in every sandbox mode;
- :mod:`~autograder.engine.zygote`: the fork servers (numpy, scipy, torch imported once per grading
  process; each checker and worker a fresh fork of them).
"""

from .run import Limits, RunResult, run_notebook

__all__ = ["Limits", "RunResult", "run_notebook"]
