"""The city model and the analyses of buildings, seats and zones.

>>> from facilities import read_city
>>> city = read_city("data/demo")  # doctest: +SKIP
"""

import logging

from facilities._validate import Problem, ValidationError
from facilities.city import City, NetworkSpec
from facilities.io import read_city

__all__ = ["City", "NetworkSpec", "Problem", "ValidationError", "read_city"]

logging.getLogger(__name__).addHandler(logging.NullHandler())
