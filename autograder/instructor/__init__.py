"""The instructors' side, on nbgrader's API.

- :mod:`~autograder.instructor.release`: ``solutions/`` -> ``exercises/`` and its check;
- :mod:`~autograder.instructor.inbox`: submissions in (folders, zips, LMS exports), vetted;
- :mod:`~autograder.instructor.restore`: a submission's answers on the instructor's skeleton;
- :mod:`~autograder.instructor.preprocessors`: nbgrader preprocessors (run in the engine, hide hidden tests);
- :mod:`~autograder.instructor.task`: ``grade_one(submission, release, limits)``, one submission as a
  pure task (sanitize, then the engine), its result keyed by a hash of its inputs;
- :mod:`~autograder.instructor.executors`: where tasks run: threads here (``local``) or a Dask cluster
  (``dask://HOST:PORT``);
- :mod:`~autograder.instructor.grading`: orchestration of a batch (the only writer of the gradebook);
- :mod:`~autograder.instructor.gradebook`: notes, scores, export, feedback;
- :mod:`~autograder.instructor.report`: the per-question report and the histogram of totals;
- :mod:`~autograder.instructor.feedback`: the feedback page.
"""
