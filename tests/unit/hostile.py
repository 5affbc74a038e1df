"""Hostile inputs shared by the loader tests."""

from __future__ import annotations

from string import ascii_lowercase


def yaml_bomb(levels: int = 9) -> str:
    """A "billion laughs" YAML fragment: anchors a, b, c, ... each holding nine aliases of the one before
    (9**levels strings once expanded, from a few hundred bytes)."""
    names = ascii_lowercase[:levels]
    lol = ",".join(['"lol"'] * 9)
    lines = [f"{names[0]}: &{names[0]} [{lol}]"]
    lines += [f"{name}: &{name} [{','.join([f'*{before}'] * 9)}]" for before, name in zip(names, names[1:], strict=False)]
    return "\n".join(lines) + "\n"
