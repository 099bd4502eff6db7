"""Pure tensor operations: no learning, no data, no Lightning."""

from .blend import alpha_blend
from .classic import convex_hull, poisson_blend, telea_inpaint
from .color import reinhard_transfer
from .convert import as_image, as_mask, check_same_size, to_uint8_hwc
from .distance import signed_distance
from .edges import canny_edges
from .graph import ancestors, break_cycles, neighbour_pairs, order_from_depth, order_from_masks, pairwise_order
from .grid import image_grid, tile
from .masks import (
    SquareBox,
    bbox,
    crop_square,
    dilate,
    erode,
    iou,
    neighbourhood_max,
    paste_square,
    resize_mask,
    scaled_radius,
    square_box,
)
from .offsets import offset_fill

__all__ = [
    "alpha_blend",
    "ancestors",
    "as_image",
    "as_mask",
    "bbox",
    "break_cycles",
    "canny_edges",
    "check_same_size",
    "convex_hull",
    "crop_square",
    "dilate",
    "erode",
    "image_grid",
    "iou",
    "neighbourhood_max",
    "neighbour_pairs",
    "offset_fill",
    "order_from_depth",
    "order_from_masks",
    "pairwise_order",
    "paste_square",
    "poisson_blend",
    "reinhard_transfer",
    "resize_mask",
    "scaled_radius",
    "signed_distance",
    "SquareBox",
    "square_box",
    "telea_inpaint",
    "tile",
    "to_uint8_hwc",
]
