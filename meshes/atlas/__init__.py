"""Real anatomy from the Z-Anatomy atlas, downloaded on the user's machine, never shipped.

- `sources`: the eight source files (URL pinned by commit, SHA-256, size, frame, exporter, licence);
- `fetch`: download them into the user's data folder (pooch, hash-verified, atomic) or take them
  from a local folder; `status` says what is present;
- `convert`: decode (Draco), place (node transforms, per-file translations) and name the meshes in
  LPS millimetres, once, into a cache;
- `recipe` / `build`: the project's own region recipes (TOML, `recipes/`) turned into packs
  addressed as ``atlas:REGION[:HABITUS]``.

Data credit: BodyParts3D (The Database Center for Life Science, CC BY-SA 2.1 JP) and Z-Anatomy
(CC BY-SA 4.0); see `sources.ATTRIBUTION`.
"""
