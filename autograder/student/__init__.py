"""The students' side: the lab (:mod:`~autograder.student.lab`), downloads
(:mod:`~autograder.student.bundle`) and the self-check (:mod:`~autograder.student.validate`).

Imports nothing, so that an assignment's download can ship the self-check alone.
"""
