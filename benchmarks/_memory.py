"""Peak resident memory of the current process image (also pasted into benchmark child scripts).

On Linux ``ru_maxrss`` survives ``exec``: a child starts with its forking parent's peak, so a
child of a large benchmark runner reports the runner's size. ``VmHWM`` in ``/proc/self/status``
belongs to the current process image only.
"""

import resource


def peak_rss_mib() -> float:
    """Peak resident set size of this process image in MiB (``ru_maxrss`` where no ``/proc``)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # the line is "VmHWM:  123456 kB"
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
