"""
Private helpers shared by both APIs; not part of the public interface.

- :mod:`.http`: routes, retry rules, status classification and error mapping (sync and async).
- :mod:`.connection`: reading an Airflow connection into settings both hooks use.
- :mod:`.files`: safe file names, streaming downloads, CSV checks and streaming uploads.
- :mod:`.hook`: the base hook that runs every request, sync (requests) and async (aiohttp).
"""
