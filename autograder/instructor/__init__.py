"""The instructors' side, on nbgrader's API.

- :mod:`~autograder.instructor.release`: ``solutions/`` -> ``exercises/`` and its check;
- :mod:`~autograder.instructor.inbox`: submissions in (folders, zips, LMS exports), vetted;
- :mod:`~autograder.instructor.restore`: a submission's answers on the instructor's skeleton;
- :mod:`~autograder.instructor.preprocessors`: nbgrader preprocessors (run in the engine, hide hidden tests);
- :mod:`~autograder.instructor.grading`: orchestration of a batch;
- :mod:`~autograder.instructor.gradebook`: notes, scores, export, feedback;
- :mod:`~autograder.instructor.feedback`: the feedback page.
"""
