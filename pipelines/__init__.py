"""Prefect flows over Lepton's steps (installed as ``lepton.pipelines``).

``lepton.pipelines.flows.search_flow`` is ``lepton run`` as a Prefect flow;
``serve_schedule`` (``lepton schedule`` on the command line) serves it on a cron or
interval schedule. Importing this package does not import Prefect; importing ``flows``
does.
"""
