"""Honest students graded in the same batch as the attackers (and alone, to compare)."""

from __future__ import annotations

from . import RIGHT_CUBE, RIGHT_SQUARE, attack, one, toy


@attack("zz_victim", "honest", 4, fast=True, honest=True,
        expect="graded after the attackers (and targeted by them): same grade as alone")
def zz_victim(ctx):
    """The full solution (the student daemons and look-alike ids aim at)."""
    return one(ctx, "zz_victim", toy(ctx, square=RIGHT_SQUARE, cube=RIGHT_CUBE))


@attack("zz_honest_release", "honest", 0, honest=True)
def zz_honest_release(ctx):
    """The untouched release."""
    return {"zz_honest_release/squares.ipynb": ctx.release["squares"]}
