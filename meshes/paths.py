"""User folders named by ``$NEEDLESAFE_*`` environment variables, with XDG defaults.

Every folder NeedleSafe keeps for the user comes from `user_dir`: the environment variable when it
is set and not empty, else a path under the XDG base folder (``$XDG_DATA_HOME`` or
``~/.local/share`` for data, ``$XDG_CACHE_HOME`` or ``~/.cache`` for the cache; a relative XDG
value is ignored, as the XDG spec asks).

- ``$NEEDLESAFE_PACKS``: imported packs, default ``~/.local/share/needlesafe/packs`` (data);
- ``$NEEDLESAFE_ATTEMPTS``: exercise attempt logs, default ``~/.local/share/needlesafe/attempts`` (data);
- ``$NEEDLESAFE_CACHE``: built-in packs built once, default ``~/.cache/needlesafe`` (cache);
- ``$NEEDLESAFE_DATA``: the downloaded atlas source files (`atlas_dir`), default
  ``~/.local/share/needlesafe/atlas`` (data). The variable names the atlas folder itself.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

#: XDG base folders: (environment variable, default below the home folder).
XDG_BASES: dict[str, tuple[str, tuple[str, ...]]] = {
    "data": ("XDG_DATA_HOME", (".local", "share")),
    "cache": ("XDG_CACHE_HOME", (".cache",)),
}


def xdg_base(base: Literal["data", "cache"] = "data") -> Path:
    """The XDG base folder for `base`: its variable when set to an absolute path, else the default."""
    var, default = XDG_BASES[base]
    value = os.environ.get(var, "")
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home().joinpath(*default)


def user_dir(env_var: str, default_relative: str, base: Literal["data", "cache"] = "data") -> Path:
    """``$env_var`` when set and not empty, else `default_relative` (e.g. ``"needlesafe/packs"``)
    under the XDG `base` folder. The folder is not created."""
    root = os.environ.get(env_var)
    return Path(root) if root else xdg_base(base) / default_relative


#: Environment variable naming the folder of the downloaded atlas source files.
ATLAS_ENV = "NEEDLESAFE_DATA"


def atlas_dir() -> Path:
    """Where the atlas source files live: ``$NEEDLESAFE_DATA``, else ``needlesafe/atlas`` under the
    XDG data folder (``~/.local/share/needlesafe/atlas``). The folder is not created."""
    return user_dir(ATLAS_ENV, "needlesafe/atlas", "data")
