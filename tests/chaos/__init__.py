"""The seeded crash-consistency chaos suite (`python -m tests.chaos.runner --seed N`).

* ``data``: the databases, the rows drawn from the seed, the five pipelines;
* ``schedule``: the faults, decided up front from the seed, and the workers' settings;
* ``fleet``: the worker processes (killed, frozen, replaced) and the connection cutter;
* ``rows``: every destination against its source, by key range, then row by row;
* ``protocol``: the lease protocol from the events and the destination state rows;
* ``runner``: one run, its summary line, and the command line;
* ``test_chaos``: the CI short mode; ``test_findings``: the bugs it found, pinned;
  ``test_faults``: the fault-injection hook (``syncbeat.connectors.faults``).
"""
