"""Helpers the tests share, one noun per module.

* :mod:`~tests.support.polling`: waiting for a condition, with a deadline.
* :mod:`~tests.support.databases`: the servers' URLs and fresh databases on them.
* :mod:`~tests.support.sql`: SQL run against a URL (execute, count, read a table).
* :mod:`~tests.support.cli`: the `syncbeat` command: argument lists, and running it.
* :mod:`~tests.support.servers`: free ports, and waiting for a server's ``/health``.
* :mod:`~tests.support.specs`: pipeline specs, and queueing a job of one.
* :mod:`~tests.support.jobs`: what the store holds of a job, as a test reads it.
* :mod:`~tests.support.leases`: the lease protocol, checked on a job's events.
* :mod:`~tests.support.fleet`: real `syncbeat worker` processes, started and struck.
* :mod:`~tests.support.tables`: tables the tests fill (the worker tests', the bad-input items).
* :mod:`~tests.support.gated`: a source whose pace the test sets, for the liveness tests.
* :mod:`~tests.support.clocks`: a process whose wall clock is off by hours.
* :mod:`~tests.support.locks`: a lock on a table, and the writer waiting on it cut off.
* :mod:`~tests.support.crashes`: a `syncbeat` run killed again and again, and the
  destination's checkpoint checked after each kill.
"""
