"""DeepLabCut and SLEAP run in their own Python environments, driven by a worker subprocess.

Each is a multi-gigabyte install with its own CUDA torch, so it never shares w2t-bkin's
environment. The client (:mod:`.client`) writes a JSON request, runs ``PYTHON runner.py
REQUEST RESPONSE`` with the backend environment's interpreter, and reads the JSON response
(:mod:`.protocol`). The runner (:mod:`.runner`) is one stdlib-only file that needs nothing of
w2t-bkin: it calls the backend's own video analysis, which writes its native output files
(DeepLabCut ``.h5``/``.csv``, SLEAP ``.slp``), and the client reads them with the existing pose
readers. Frames never cross the pipe: the worker opens the video itself.
"""
