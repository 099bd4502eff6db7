"""Metrics as torchmetrics classes, computed the way the papers' tables report them.

* :class:`PooledMIoU`: ``sum of intersections / sum of unions`` over all instances, on the full amodal
  mask or on the invisible part only (Amodal-VAE Table 1, PCNet Table 2, AMICO Table 3).
* :class:`OrderingAccuracy`: pairwise accuracy over occluded neighbour pairs (PCNet Table 1).
* :class:`BinnedImageMetrics`: PSNR / SSIM / L1 averaged per image inside bins of object (or mask)
  area ratio (AMICO Table 2: (0.05, 0.2], (0.2, 0.4], (0.4, 0.5]; Shimosato Tables I-V), optionally
  restricted to a region (e.g. the invisible part, AMICO Table 1).

LPIPS and Inception-FID are torchmetrics' own classes, built by :func:`perceptual_metrics` only where
their pretrained weights are already present (nothing is downloaded).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import torch
from torch import Tensor, nn
from torchmetrics import Metric, MetricCollection
from torchmetrics.functional.image import structural_similarity_index_measure

from .ops.graph import pairwise_order

__all__ = [
    "PooledMIoU",
    "OrderingAccuracy",
    "BinnedImageMetrics",
    "MethodMetrics",
    "MetricSet",
    "SampleCount",
    "mask_metrics",
    "AMICO_AREA_BINS",
    "perceptual_metrics",
    "psnr",
    "ssim",
]

#: AMICO Table 2 object-to-image area ratio bins.
AMICO_AREA_BINS: tuple[tuple[float, float], ...] = ((0.05, 0.2), (0.2, 0.4), (0.4, 0.5))


def _bin(x: Tensor) -> Tensor:
    return (x > 0.5).flatten(1)


class PooledMIoU(Metric):
    """Pooled mIoU of amodal masks: total intersection over total union across instances.

    Args:
        part: ``"full"`` (the amodal mask) or ``"invisible"`` (``amodal \\ visible`` of prediction and
            target, both taken outside the given visible mask).

    Example:
        >>> m = PooledMIoU("invisible")
        >>> vis = torch.zeros(1, 1, 4, 4); vis[..., :2] = 1
        >>> gt = torch.zeros(1, 1, 4, 4); gt[..., :3] = 1
        >>> m.update(gt, gt, vis); float(m.compute())
        1.0
    """

    higher_is_better = True
    full_state_update = False

    def __init__(self, part: str = "full", **kwargs) -> None:
        super().__init__(**kwargs)
        if part not in ("full", "invisible"):
            raise ValueError(f"part must be 'full' or 'invisible', got {part!r}")
        self.part = part
        self.add_state("intersection", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("union", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, pred: Tensor, target: Tensor, visible: Tensor | None = None) -> None:
        """Add a batch.

        Args:
            pred: ``(B, 1, H, W)`` predicted amodal masks (binary, or probabilities thresholded at 0.5).
            target: ``(B, 1, H, W)`` ground-truth amodal masks.
            visible: ``(B, 1, H, W)`` visible masks; required for ``part="invisible"``.
        """
        if pred.shape != target.shape:
            raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ")
        p, t = _bin(pred), _bin(target)
        if self.part == "invisible":
            if visible is None:
                raise ValueError("part='invisible' needs the visible masks")
            if visible.shape != pred.shape:
                raise ValueError(f"visible {tuple(visible.shape)} and pred {tuple(pred.shape)} differ")
            v = _bin(visible)
            p, t = p & ~v, t & ~v
        self.intersection += (p & t).sum().double()
        self.union += (p | t).sum().double()

    def compute(self) -> Tensor:
        if self.union == 0:
            return torch.tensor(float("nan"))
        return (self.intersection / self.union).float()


class OrderingAccuracy(Metric):
    """Pairwise ordering accuracy on occluded neighbour pairs (PCNet Table 1).

    A pair ``(i, j)`` counts when the ground truth says one occludes the other; the prediction is
    right when its antisymmetric order (``+1`` / ``-1``) for that pair matches. Pairs that the
    ground truth marks as mutual occlusion are skipped.
    """

    higher_is_better = True
    full_state_update = False

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("correct", default=torch.tensor(0, dtype=torch.int64), dist_reduce_fx="sum")
        self.add_state("total", default=torch.tensor(0, dtype=torch.int64), dist_reduce_fx="sum")

    def update(self, pred_order: Tensor, target_order: Tensor) -> None:
        """Add one scene.

        Args:
            pred_order: ``(N, N)`` predicted order matrix (``[i, j] > 0``: ``i`` occludes ``j``).
            target_order: ``(N, N)`` ground-truth order matrix.
        """
        if pred_order.shape != target_order.shape or pred_order.ndim != 2:
            raise ValueError(
                f"order matrices must be (N, N) of one size, got {tuple(pred_order.shape)} "
                f"and {tuple(target_order.shape)}"
            )
        gt = pairwise_order(target_order.to(self.correct.device))
        pr = pairwise_order(pred_order.to(self.correct.device))
        upper = torch.triu(torch.ones_like(gt, dtype=torch.bool), diagonal=1)
        pairs = upper & (gt != 0)
        self.correct += (pr[pairs] == gt[pairs]).sum()
        self.total += pairs.sum()

    def compute(self) -> Tensor:
        if self.total == 0:
            return torch.tensor(float("nan"))
        return self.correct.float() / self.total.float()


def psnr(pred: Tensor, target: Tensor, region: Tensor | None = None, data_range: float = 1.0) -> Tensor:
    """Per-image PSNR in dB, optionally over a region only. Shapes ``(B, C, H, W)`` / ``(B, 1, H, W)``."""
    err = (pred - target) ** 2
    if region is None:
        mse = err.flatten(1).mean(1)
    else:
        w = region.expand_as(err)
        mse = (err * w).flatten(1).sum(1) / w.flatten(1).sum(1).clamp_min(1.0)
    return 10.0 * torch.log10(data_range**2 / mse.clamp_min(1e-10))


def ssim(pred: Tensor, target: Tensor, region: Tensor | None = None, data_range: float = 1.0) -> Tensor:
    """Per-image SSIM (torchmetrics' Gaussian 11x11, sigma 1.5), averaged over the image or over ``region``.

    Shapes: ``(B, C, H, W)`` images with ``H, W >= 6``; ``region`` ``(B, 1, H, W)``. Returns ``(B,)``.
    """
    if min(pred.shape[-2:]) < 6:
        raise ValueError(f"ssim needs images of at least 6x6 pixels, got {tuple(pred.shape[-2:])}")
    _, full = structural_similarity_index_measure(
        pred, target, data_range=data_range, reduction="none", return_full_image=True
    )
    m = full.mean(1, keepdim=True)
    if region is None:
        return m.flatten(1).mean(1)
    return (m * region).flatten(1).sum(1) / region.flatten(1).sum(1).clamp_min(1.0)


class BinnedImageMetrics(Metric):
    """PSNR / SSIM / L1 averaged per image within bins of area ratio (AMICO Table 2).

    Args:
        bins: ``(lo, hi]`` intervals of the area ratio; samples outside every bin still count in ``all``.
        metrics: any of ``"psnr"``, ``"ssim"``, ``"l1"``.

    ``compute()`` returns a dict ``{"psnr/(0.05,0.2]": ..., "psnr/all": ..., "count/(0.05,0.2]": ...}``;
    an empty bin gives NaN.

    Example:
        >>> m = BinnedImageMetrics(bins=((0.0, 1.0),))
        >>> x = torch.rand(2, 3, 8, 8); m.update(x, x, torch.tensor([0.3, 0.6]))
        >>> round(float(m.compute()["ssim/(0,1]"]), 3)
        1.0
    """

    full_state_update = False

    def __init__(
        self,
        bins: Sequence[tuple[float, float]] = AMICO_AREA_BINS,
        metrics: Sequence[str] = ("psnr", "ssim", "l1"),
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        bad = set(metrics) - {"psnr", "ssim", "l1"}
        if bad:
            raise ValueError(f"unknown metrics {sorted(bad)}")
        self.bins = [tuple(float(v) for v in b) for b in bins]
        self.metric_names = tuple(metrics)
        nb = len(self.bins) + 1  # last slot: all samples
        for name in self.metric_names:
            self.add_state(f"sum_{name}", default=torch.zeros(nb, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.zeros(nb, dtype=torch.int64), dist_reduce_fx="sum")

    @staticmethod
    def bin_name(b: tuple[float, float]) -> str:
        return f"({b[0]:g},{b[1]:g}]"

    def update(self, pred: Tensor, target: Tensor, area_ratio: Tensor, region: Tensor | None = None) -> None:
        """Add a batch.

        Args:
            pred, target: ``(B, 3, H, W)`` in [0, 1].
            area_ratio: ``(B,)`` the ratio that picks the bin.
            region: optional ``(B, 1, H, W)`` mask: metrics over this region only (samples with an
                empty region are skipped).
        """
        if pred.shape != target.shape:
            raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ")
        area_ratio = area_ratio.reshape(-1).to(pred.device)
        if area_ratio.numel() != pred.shape[0]:
            raise ValueError(f"area_ratio has {area_ratio.numel()} values for {pred.shape[0]} images")
        keep = torch.ones(pred.shape[0], dtype=torch.bool, device=pred.device)
        if region is not None:
            region = (region > 0.5).float()
            keep = region.flatten(1).sum(1) > 0
        values = {}
        if "psnr" in self.metric_names:
            values["psnr"] = psnr(pred, target, region)
        if "ssim" in self.metric_names:
            values["ssim"] = ssim(pred, target, region)
        if "l1" in self.metric_names:
            err = (pred - target).abs().mean(1, keepdim=True)
            values["l1"] = (
                err.flatten(1).mean(1)
                if region is None
                else (err * region).flatten(1).sum(1) / region.flatten(1).sum(1).clamp_min(1.0)
            )
        member = [((area_ratio > lo) & (area_ratio <= hi)) & keep for lo, hi in self.bins] + [keep]
        for slot, sel in enumerate(member):
            self.count[slot] += sel.sum()
            for name, v in values.items():
                getattr(self, f"sum_{name}")[slot] += v[sel].double().sum()

    def compute(self) -> dict[str, Tensor]:
        out = {}
        names = [self.bin_name(b) for b in self.bins] + ["all"]
        for slot, bn in enumerate(names):
            n = self.count[slot]
            out[f"count/{bn}"] = n
            for name in self.metric_names:
                s = getattr(self, f"sum_{name}")[slot]
                out[f"{name}/{bn}"] = (s / n).float() if n > 0 else torch.tensor(float("nan"))
        return out


class MethodMetrics(nn.Module):
    """The same metric for several methods scored on the same samples (a learned network and its
    baselines), computed as one flat dict ``{"<metric>/<method>": value}``; sample counts appear once,
    as ``"count/<bin>/samples"``.

    Args:
        methods: method names (the learned one first, by convention).
        factory: builds one metric (a :class:`~torchmetrics.Metric` returning a tensor is named
            ``name``; a :class:`BinnedImageMetrics` or :class:`~torchmetrics.MetricCollection` gives
            its own keys).
        name: the key of a metric whose ``compute`` returns a single tensor.

    Example:
        >>> m = MethodMetrics(["a", "b"], mask_metrics)
        >>> x = torch.ones(1, 1, 4, 4); m.update({"a": x, "b": x}, x, x)
        >>> sorted(m.compute())[:2]
        ['miou_full/a', 'miou_full/b']
    """

    def __init__(self, methods: Sequence[str], factory: Callable[[], Metric | MetricCollection], name: str = "value"):
        super().__init__()
        self.methods, self.name = tuple(methods), name
        # module names may not hold "." ("pcnet_m (eq. 3)"): the dict's keys replace it
        self.metrics = nn.ModuleDict({self._key(m): factory() for m in self.methods})

    def update(self, preds: Mapping[str, Tensor], *args, **kwargs) -> None:
        """Add a batch: ``preds[method]`` for every method, then the metric's other arguments."""
        missing = set(self.methods) - set(preds)
        if missing:
            raise ValueError(f"predictions missing for methods {sorted(missing)}")
        for method in self.methods:
            self.metrics[self._key(method)].update(preds[method], *args, **kwargs)

    def compute(self) -> dict[str, Tensor]:
        out: dict[str, Tensor] = {}
        for method in self.methods:
            values = self.metrics[self._key(method)].compute()
            if isinstance(values, Tensor):
                values = {self.name: values}
            for key, value in values.items():
                if key.startswith("count/"):
                    out.setdefault(f"{key}/samples", value.float())
                else:
                    out[f"{key}/{method}"] = value
        return out

    @staticmethod
    def _key(method: str) -> str:
        return method.replace(".", "\u2024")  # ONE DOT LEADER: a module name, shown nowhere

    def reset(self) -> None:
        for metric in self.metrics.values():
            metric.reset()


class MetricSet(nn.ModuleDict):
    """Several named :class:`MethodMetrics` scored together (e.g. the orderings and the amodal masks of
    a de-occlusion system); ``compute`` merges their dicts, ``reset`` resets all."""

    def compute(self) -> dict[str, Tensor]:
        out: dict[str, Tensor] = {}
        for metrics in self.values():
            out.update(metrics.compute())
        return out

    def reset(self) -> None:
        for metrics in self.values():
            metrics.reset()


class SampleCount(Metric):
    """How many samples were scored (the length of the first argument of each update)."""

    full_state_update = False

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("n", default=torch.tensor(0, dtype=torch.int64), dist_reduce_fx="sum")

    def update(self, pred: Tensor, *args, **kwargs) -> None:
        self.n += pred.shape[0]

    def compute(self) -> Tensor:
        return self.n


def mask_metrics() -> MetricCollection:
    """Pooled mIoU on the full amodal mask and on its invisible part (``miou_full``,
    ``miou_invisible``) and the sample count, updated with ``(pred, target_amodal, visible)``."""
    return MetricCollection(
        {"miou_full": PooledMIoU("full"), "miou_invisible": PooledMIoU("invisible"), "count/all": SampleCount()},
        compute_groups=False,
    )


#: pretrained weights each perceptual metric needs in torch hub's checkpoint folder (never downloaded)
PERCEPTUAL_WEIGHTS = {
    "lpips": ("torchvision", "alexnet-owt-7be5be79.pth"),
    "fid": ("torch_fidelity", "weights-inception-2015-12-05-6726825d.pth"),
}


def perceptual_metrics(device: str | torch.device = "cpu") -> tuple[dict[str, Metric], dict[str, str]]:
    """torchmetrics' LPIPS (AlexNet) and FID (Inception) where they can run here without a download:
    ``(metrics, reasons)``, the metric objects that could be built, and for each other one why not (its
    package does not import, or its pretrained weights are not in torch hub's checkpoint folder). Nothing
    is ever downloaded; a row is reported only for a metric returned here.

    Example:
        >>> metrics, reasons = perceptual_metrics()
        >>> sorted(metrics) + sorted(reasons)  # here: both missing, each with its reason
        ['fid', 'lpips']
    """
    import importlib
    import importlib.util

    metrics: dict[str, Metric] = {}
    reasons: dict[str, str] = {}
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    for name, (package, weights) in PERCEPTUAL_WEIGHTS.items():
        try:
            if importlib.util.find_spec(package) is None:
                raise ImportError(f"the {package!r} package is not installed")
            importlib.import_module(package)
        except Exception as err:  # a torchvision built for another torch raises more than ImportError
            reasons[name] = f"{name.upper()} not computed: {package} does not import ({err})"
            continue
        if not (hub / weights).is_file():
            reasons[name] = f"{name.upper()} not computed: its weights {weights} are not in {hub} (never downloaded)"
            continue
        if name == "lpips":
            from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

            metrics[name] = LearnedPerceptualImagePatchSimilarity(net_type="alex", normalize=True).to(device)
        else:
            from torchmetrics.image.fid import FrechetInceptionDistance

            metrics[name] = FrechetInceptionDistance(feature=2048, normalize=True).to(device)
    return metrics, reasons
