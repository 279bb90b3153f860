"""Every model file, imported so that its ``@register_model`` decorators run.

registry.py imports this module lazily (on the first ``create_model`` / ``list_models``), so
importing the registry alone stays cheap. The order here is the order ``avaffect models``
lists them in.
"""

# isort: skip_file
from . import vgg  # noqa: F401
from . import sphereface  # noqa: F401
from . import inception_resnet  # noqa: F401
from . import arcface  # noqa: F401
from . import recurrent  # noqa: F401
from . import audiovisual  # noqa: F401
