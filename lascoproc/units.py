"""Units of the field that astropy does not define.

``MSB``, the mean solar brightness: coronagraph brightness is the ratio of the observed
radiance to the mean radiance of the solar disk, so the unit is dimensionless
(Billings, *A Guide to the Solar Corona*, 1966; NRL's level-1 ``BUNIT = 'MSB'``). Importing this
module enables it, so ``astropy.units.Unit("MSB")`` parses the ``units`` of lascoproc outputs.
"""

import astropy.units as u

__all__ = ["MSB"]

MSB = u.def_unit(["MSB"], u.dimensionless_unscaled, doc="mean solar brightness")
u.add_enabled_units([MSB])
