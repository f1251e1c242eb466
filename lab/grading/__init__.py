"""Exercises and their grading: checks are pytest tests with a ``check`` marker.

* :mod:`lab.grading.model` — what an exercise, a check and a result are (plain data);
* :mod:`lab.grading.plugin` — the pytest plugin (``-p lab.grading.plugin``): the marker,
  dependencies, per-check timeouts, fixtures for the lab and the submission, results;
* :mod:`lab.grading.session` — one grading session (``GradingSession``): the staged
  submission, a lab that reboots when killed, student programs run in a guest without
  trusting them;
* :mod:`lab.grading.runner` — one grade: stage the submission, a fresh lab, pytest, a report;
* :mod:`lab.grading.reports` — text, JSON, Gradescope ``results.json`` and JUnit XML;
* :mod:`lab.grading.starter` — starters generated from solutions (``make starters``).
"""
