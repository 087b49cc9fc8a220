"""Channel counts rounded to a multiple of a divisor (8: what hardware kernels like), by the two
rules the reference networks use; they round differently, so each family keeps its own.

* :func:`make_divisible_mobilenet`: to the *nearest* multiple, never more than 10% down. The
  rule of the MobileNetV2 reference code (TensorFlow models, ``research/slim/nets/mobilenet``:
  ``_make_divisible``), of MobileNetV3 and of EfficientNet's ``round_filters`` (TensorFlow
  TPU models, ``efficientnet_model.py``); timm and torchvision copy it.
* :func:`make_divisible_yolov5`: the width multiple rounded *up*. The rule of ultralytics'
  YOLOv5 (``utils/general.py``: ``make_divisible``, applied to ``channels * width_multiple``),
  which mmyolo uses for every YOLO backbone and neck.
"""
import math
from typing import Optional

__all__ = ['make_divisible_mobilenet', 'make_divisible_yolov5']


def make_divisible_mobilenet(value: float, divisor: int = 8, min_value: Optional[int] = None,
                             round_limit: float = 0.9) -> int:
    """``value`` rounded to the nearest multiple of ``divisor`` (halves up), at least
    ``min_value`` (default ``divisor``), and never below ``round_limit * value``: if rounding
    down loses more than 10%, one ``divisor`` is added back."""
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < round_limit * value:
        rounded += divisor
    return rounded


def make_divisible_yolov5(channels: float, widen_factor: float = 1.0, divisor: int = 8) -> int:
    """``channels * widen_factor`` rounded up to a multiple of ``divisor``."""
    return math.ceil(channels * widen_factor / divisor) * divisor
