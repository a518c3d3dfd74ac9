"""Run ids of the form ``adjective-surname-NNNN``, e.g. ``unsolvable-ramanujan-0634``.

About 100 adjectives x 100 surnames x 10,000 numbers = 10^8 names; a collision is still possible,
so the caller reserves each id atomically in the run-log store and draws again if it is taken.
"""

from __future__ import annotations

import os

ADJECTIVES = (
    "agile affable ancient arcane bold brave bright brisk calm candid careful cheerful clever cosmic "
    "curious daring dazzling deft diligent eager earnest elegant epic fearless fervent festive fluent "
    "focused frank gallant gentle gifted gleaming golden graceful hardy hearty honest humble jolly "
    "jovial keen kind lively loyal lucid lucky mellow merry mighty modest nimble noble orderly patient "
    "peaceful placid plucky polite precise proud quick quiet radiant rapid ready resolute robust rustic "
    "serene sharp shiny silent sincere sleek smart snappy solid spirited stable steady stellar sturdy "
    "subtle sunny swift tender thrifty tidy tranquil trusty upbeat unsolvable valiant vivid warm "
    "wise witty zealous zesty"
).split()

SURNAMES = (
    "agnesi archimedes babbage banach bernoulli bohr boole cantor cardano carson cauchy chandrasekhar "
    "curie darwin dedekind descartes dirac euclid euler faraday fermat fermi feynman fibonacci fourier "
    "franklin galois galileo gauss germain godel goodall hamilton hardy heisenberg hertz hilbert "
    "hopper hubble huygens hypatia jacobi johnson joule kelvin kepler khayyam kolmogorov kovalevskaya "
    "lagrange lamarr laplace leibniz lovelace lorentz markov maxwell meitner mendel mirzakhani napier "
    "nash newton noether ohm pascal pasteur pauli planck poincare ptolemy pythagoras ramanujan riemann "
    "rutherford sagan schrodinger shannon somerville stokes tesla thales turing volta wallace watt "
    "weierstrass wiles wu yalow zuse"
).split()


def generate() -> str:
    """A new random run id (not yet reserved).

    >>> len(generate().split("-"))
    3
    """
    # From os.urandom, like the secrets module (whose import costs every run ~2 ms); the modulo's bias
    # over 64 random bits is below 1e-15, far below what a name needs.
    a, s, n = (int.from_bytes(os.urandom(8), "little") for _ in range(3))
    return f"{ADJECTIVES[a % len(ADJECTIVES)]}-{SURNAMES[s % len(SURNAMES)]}-{n % 10_000:04d}"
