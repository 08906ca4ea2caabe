"""
Private helpers shared by both APIs; not part of the public interface.

The one job model:

- :mod:`.jobs`: a job kind and its typed ref (how its status is read and judged), a reading, the
  result shape; :mod:`.steps`: creating a job in named steps, each done once across retries.
- :mod:`.waiting`: the one wait (check once, defer or poll, resume); :mod:`.sensor`: the sensor base.
- :mod:`.trigger`: the one polling trigger base; :mod:`.poller`: the poll loop its waits share, one per
  connection in a triggerer process (coalescing, request budget, 429 pause).
- :mod:`.operator`: the one flow of an operator that starts a job.
- :mod:`.downloads` and :mod:`.task_state`: the one download-and-record path; what a task remembers.

Under it:

- :mod:`.routes`: routes and the ID check (cheap: DAG files import it).
- :mod:`.http`: retry rules, the transient-error rule and error mapping (sync and async).
- :mod:`.hook` and :mod:`.transport`: the base hook that sends every request; each transport's errors;
  :mod:`.auth`: how a hook's requests carry credentials (an object the hook is given).
- :mod:`.connection`: reading an Airflow connection into settings both hooks use.
- :mod:`.files` and :mod:`.lineage`: safe file names, atomic streamed writes, uploads; asset events.
"""
