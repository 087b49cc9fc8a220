"""Necks registered in the ``mmbackbones`` scope; each exposes ``out_channels`` (the channels of
every output, in output order), as the backbones do, so that a head can be sized from it."""
from .yolo import YOLOV3Neck, YOLOv5PAFPN, YOLOXPAFPN
from .ppyoloe import PPYOLOECSPPAFPN
from .yolov6 import YOLOv6CSPRepPAFPN, YOLOv6RepPAFPN

__all__ = ['YOLOV3Neck', 'YOLOv5PAFPN', 'YOLOXPAFPN', 'YOLOv6RepPAFPN', 'YOLOv6CSPRepPAFPN',
           'PPYOLOECSPPAFPN']
