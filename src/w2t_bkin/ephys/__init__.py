"""Electrophysiology: session discovery, spike-sorting job dispatch and sorting.

- :mod:`.params`: :class:`~.params.DispatchParams`, the one schema of the ``ephys dispatch``
  flags and ``--params`` files (upstream key names accepted; conflicts reported).
- :mod:`.discovery`: sessions, blocks, streams and LFP partners per input format (``aind``,
  ``spikeglx``, ``openephys``, ``nwb``, ``spikeinterface``), registered by name.
- :mod:`.timestamps`: streamed timestamp checks (negative steps, gaps, zero steps).
- :mod:`.portable`: recording dicts with lexical relative paths, no per-sample arrays, and a
  reload check from a relocated data folder.
- :mod:`.jobs`: :class:`~.jobs.SortingJob`, ``write_job``/``read_job``/``load_recording``, the
  job JSON schema.
- :mod:`.dispatch`: :func:`~.dispatch.dispatch`, data folder -> ``job_<id>.json`` + manifest.
- :mod:`.sort`: :func:`~.sort.sort_results`, each job sorted as a runtime task.
- :mod:`.session_clock`: a probe's clock fit from ``alignment_stats.json``, and spike sample
  indices on the session clock (:func:`~.session_clock.probe_samples_to_session_s`).

SpikeInterface is imported inside the functions that use it (the ``ephys`` extra).
"""
