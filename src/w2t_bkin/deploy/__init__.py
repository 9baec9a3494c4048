"""Optional orchestrators over the same library functions as the CLI.

``prefect_flows`` (the ``prefect`` extra): the ``process-session`` and
``batch-process-sessions`` Prefect flows, and ``w2t-bkin server start --prefect`` serving them as
deployments. Both flows run :func:`w2t_bkin.batch.run_batch` (preflight, cache plan, run
registry) with an executor that runs each session as a Prefect task and each of its phases as a
nested Prefect task, so the Prefect UI shows what the CLI's progress shows. Nothing here is
imported by ``import w2t_bkin``; Prefect is imported only by ``prefect_flows``.
"""
