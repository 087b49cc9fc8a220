from . import backbones  # noqa: F401
from . import necks  # noqa: F401
