"""DeepLabCut project configurations (``config.yaml``): bodyparts, skeleton, model identity.

A pose model in metadata may point at a DeepLabCut project (its ``config.yaml``, or the folder
holding it); the project then gives the camera its skeleton and names the model in the NWB file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from w2t_bkin.errors import IngestError
from w2t_bkin.model.pose import PoseSkeleton

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DLCProject:
    """What a DeepLabCut project ``config.yaml`` says about the model.

    Attributes
    ----------
    config_path
        The ``config.yaml`` read.
    skeleton
        Bodyparts and skeleton edges.
    task, scorer, date, iteration, net_type
        ``Task``, ``scorer`` (the labeller), ``date``, ``iteration`` and ``default_net_type``;
        ``None`` when the file leaves them out.
    """

    config_path: Path
    skeleton: PoseSkeleton
    task: str | None = None
    scorer: str | None = None
    date: str | None = None
    iteration: int | None = None
    net_type: str | None = None

    def describe(self) -> str:
        """One line naming the project, e.g. ``DeepLabCut project 'openfield' (Pranav, ...)``."""
        details = [
            text
            for text in (
                f"labelled by {self.scorer}" if self.scorer else None,
                self.date,
                f"iteration {self.iteration}" if self.iteration is not None else None,
                f"network {self.net_type}" if self.net_type else None,
            )
            if text
        ]
        name = f"DeepLabCut project {self.task!r}" if self.task else "DeepLabCut project"
        return f"{name} ({', '.join(details)})" if details else name


def is_dlc_project_config(config: Any) -> bool:
    """Whether a parsed YAML document is a DeepLabCut project configuration."""
    return isinstance(config, dict) and ("bodyparts" in config or "multianimalbodyparts" in config)


def read_dlc_project(config_path: str | Path) -> DLCProject:
    """Skeleton and description of a DeepLabCut project ``config.yaml``.

    Parameters
    ----------
    config_path
        The DLC project configuration file.

    Returns
    -------
    DLCProject
        ``skeleton.nodes``: ``bodyparts`` (single-animal) or ``multianimalbodyparts`` followed
        by ``uniquebodyparts``; ``skeleton.edges``: the ``skeleton`` pairs by name (empty when
        unset).

    Raises
    ------
    IngestError
        The YAML is unreadable, has no bodyparts, or an edge names a bodypart it does not list.
    """
    config_path = Path(config_path)
    config = read_yaml(config_path)
    if not isinstance(config, dict):
        raise IngestError("DLC config is not a YAML mapping", path=config_path)
    if config.get("multianimalproject"):
        animal = config.get("multianimalbodyparts") or []
        nodes = [*animal, *(config.get("uniquebodyparts") or [])]
    else:
        nodes = list(config.get("bodyparts") or [])
    if not nodes or not all(isinstance(n, str) for n in nodes):
        raise IngestError(
            "DLC config lists no bodyparts",
            path=config_path,
            hint="expected 'bodyparts:' (or 'multianimalbodyparts:' in multi-animal projects)",
        )
    edges: list[tuple[str, str]] = []
    for number, pair in enumerate(config.get("skeleton") or []):
        if not (isinstance(pair, list | tuple) and len(pair) == 2):
            raise IngestError(
                f"skeleton entry {number} is {pair!r}, expected a [bodypart, bodypart] pair",
                path=config_path,
            )
        for name in pair:
            if name not in nodes:
                raise IngestError(
                    f"skeleton entry {number} names bodypart '{name}', which is not in "
                    f"the bodyparts {nodes}",
                    path=config_path,
                )
        edges.append((str(pair[0]), str(pair[1])))
    iteration = config.get("iteration")
    return DLCProject(
        config_path=config_path,
        skeleton=PoseSkeleton(nodes=tuple(nodes), edges=tuple(edges)),
        task=_text(config.get("Task")),
        scorer=_text(config.get("scorer")),
        date=_text(config.get("date")),
        iteration=iteration if isinstance(iteration, int) else None,
        net_type=_text(config.get("default_net_type")),
    )


def read_dlc_skeleton(config_path: str | Path) -> PoseSkeleton:
    """Bodyparts and skeleton edges of a DeepLabCut project ``config.yaml``.

    See :func:`read_dlc_project`, whose ``skeleton`` this is.
    """
    return read_dlc_project(config_path).skeleton


def read_yaml(path: str | Path) -> Any:
    """A YAML file parsed with ``yaml.safe_load`` (:class:`IngestError` when unreadable)."""
    import yaml  # local: only the config readers need it

    path = Path(path)
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise IngestError(f"cannot read DLC config: {exc}", path=path) from exc


def _text(value: Any) -> str | None:
    return None if value is None or isinstance(value, dict | list) else str(value)


# --- HDF5 -----------------------------------------------------------------------------------


#: The file a DeepLabCut project folder holds its configuration in.
DLC_CONFIG_NAME = "config.yaml"


def dlc_project_config_of(path: Path, source: str) -> Path | None:
    """The DeepLabCut project config ``path`` is or holds; ``None`` for other models.

    For ``dlc`` models a YAML file (or a folder's ``config.yaml``) must be one; Lightning Pose
    models use it only when it is (their own ``config.yaml`` is not).
    """
    if source == "sleap":
        return None
    config = path if path.is_file() else path / DLC_CONFIG_NAME
    if not config.is_file() or config.suffix.lower() not in (".yaml", ".yml"):
        log.info("%s: no DeepLabCut %s; the model is only recorded", path, DLC_CONFIG_NAME)
        return None
    if source == "dlc" or is_dlc_project_config(read_yaml(config)):
        return config
    log.info("%s is not a DeepLabCut project config; the model is only recorded", config)
    return None
