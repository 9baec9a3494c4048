"""Pose estimation: estimator backends, streaming inference over videos, compact result files.

- :mod:`w2t_bkin.pose.estimators`: the :class:`~w2t_bkin.pose.estimators.PoseEstimator`
  protocol and the backend registry (``synthetic``, ``mediapipe``, ``deeplabcut``, ``sleap``);
- :mod:`w2t_bkin.pose.process`: :func:`~w2t_bkin.pose.process.process_video` streams decoded
  frames into an estimator (decoding in a thread, overlapping inference);
- :mod:`w2t_bkin.pose.results`: :class:`~w2t_bkin.pose.results.PosePredictions` and its
  ``.npz`` file format (schema-versioned, float32, never pickled);
- :mod:`w2t_bkin.pose.benchmark`: per-frame latency and throughput, with and without decoding;
- :mod:`w2t_bkin.pose.worker`: the request/response protocol of DeepLabCut and SLEAP workers
  running in their own Python environments.

Nothing heavy is imported here: each backend imports its framework when it is made.
"""
