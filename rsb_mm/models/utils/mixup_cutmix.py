"""timm's Mixup/CutMix (one lambda per batch, flipped pairs) as an MMPretrain batch augment.

Reference: ``timm/data/mixup.py`` (timm 1.0.31): ``Mixup`` (modes 'batch', 'pair' and
'elem'), ``rand_bbox``, ``rand_bbox_minmax``, ``cutmix_bbox_and_lam`` and ``mixup_target``.
The functions below draw from ``np.random`` in timm's order with timm's arguments, so the
same ``np.random.seed`` gives the same lambdas, modes and boxes, and they compute the images
and targets with the same float operations, so the results are bit-identical (the tests
compare against timm).

Why not MMPretrain's ``Mixup``/``CutMix`` + ``RandomBatchAugment``
(mmpretrain/models/utils/batch_augments/): they pair each sample with a
``torch.randperm`` partner instead of the flipped batch, choose Mixup or CutMix with an
extra ``np.random.choice`` draw, have no ``prob``/label smoothing, and their CutMix box is
timm's box of 2021 (``cy + cut_h // 2``; ``rand_bbox_minmax`` origin drawn below
``img_h - cut_h``), which timm 1.0.31 changed to ``cy + (cut_h + 1) // 2`` and
``img_h - cut_h + 1``. Why not call ``timm.data.Mixup`` itself: it takes integer labels and
builds its own one-hot, while MMPretrain's ``ClsDataPreprocessor`` hands batch augments the
(N, C) one-hot ``batch_score`` (``inputs, batch_score = aug(inputs, batch_score)``) and may
hand soft or multi-hot scores; it also asserts an even batch and mixes in place.

In MMPretrain, the images reach the batch augment normalised (float NCHW, after
``(x - mean) / std``), as they reach ``timm.data.Mixup`` in timm's ``train.py`` without the
prefetcher. With the prefetcher (timm's default) ``FastCollateMixup`` mixes the uint8
images before normalisation and rounds the Mixup blend to integers; normalisation is
affine and ``lam + (1 - lam) = 1``, so mixing after it gives the same images up to that
rounding (at most half a grey level) and float rounding. CutMix copies pixels, so it is
exact either way.

Over 300 lines: timm's three modes share the parameter draws, box and target helpers that
the parity tests compare one by one; about a third is the design note that issue 16 moves to
docs/design.md.
"""
from numbers import Number
from typing import Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmpretrain.registry import BATCH_AUGMENTS

__all__ = [
    'rand_bbox', 'rand_bbox_minmax', 'cutmix_bbox_and_lam', 'smooth_target', 'mix_target',
    'batch_mix_params', 'elem_mix_params', 'mix_batch', 'mix_elem', 'mix_pair',
    'MixupCutMix'
]

BBox = Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
Lam = Union[float, torch.Tensor]
_MODES = ('batch', 'pair', 'elem')


def rand_bbox(img_shape: Sequence[int],
              lam: float,
              margin: float = 0.,
              count: Optional[int] = None) -> BBox:
    """timm's square CutMix box of area about ``1 - lam``, clipped to the image.

    The centre is drawn uniformly (``np.random.randint``, y then x); ``cut = int(size *
    sqrt(1 - lam))``; the box spans ``[c - cut // 2, c + (cut + 1) // 2)`` before clipping.

    Args:
        img_shape (Sequence[int]): Shape whose last two entries are (H, W).
        lam (float): CutMix lambda (fraction of the image kept).
        margin (float): Fraction of the box size kept away from the border when drawing
            the centre. Defaults to 0.
        count (int, optional): Number of boxes to draw (arrays of that size). Defaults to
            None (scalars).

    Returns:
        tuple: ``(yl, yh, xl, xh)``, the box's rows ``yl:yh`` and columns ``xl:xh``.
    """
    ratio = np.sqrt(1 - lam)
    img_h, img_w = img_shape[-2:]
    cut_h, cut_w = int(img_h * ratio), int(img_w * ratio)
    margin_y, margin_x = int(margin * cut_h), int(margin * cut_w)
    cy = np.random.randint(0 + margin_y, img_h - margin_y, size=count)
    cx = np.random.randint(0 + margin_x, img_w - margin_x, size=count)
    yl = np.clip(cy - cut_h // 2, 0, img_h)
    yh = np.clip(cy + (cut_h + 1) // 2, 0, img_h)
    xl = np.clip(cx - cut_w // 2, 0, img_w)
    xh = np.clip(cx + (cut_w + 1) // 2, 0, img_w)
    return yl, yh, xl, xh


def rand_bbox_minmax(img_shape: Sequence[int],
                     minmax: Sequence[float],
                     count: Optional[int] = None) -> BBox:
    """timm's min-max CutMix box: side lengths drawn between two fractions of the image.

    Draws, in this order, the height, the width, then the top and left origins (all
    ``np.random.randint``), so the box always lies inside the image.

    Args:
        img_shape (Sequence[int]): Shape whose last two entries are (H, W).
        minmax (Sequence[float]): (min, max) side length as fractions of the image side.
        count (int, optional): Number of boxes to draw. Defaults to None (scalars).

    Returns:
        tuple: ``(yl, yu, xl, xu)``.
    """
    if len(minmax) != 2:
        raise ValueError(f'minmax must have 2 values, got {minmax!r}')
    img_h, img_w = img_shape[-2:]
    cut_h = np.random.randint(int(img_h * minmax[0]), int(img_h * minmax[1]), size=count)
    cut_w = np.random.randint(int(img_w * minmax[0]), int(img_w * minmax[1]), size=count)
    yl = np.random.randint(0, img_h - cut_h + 1, size=count)
    xl = np.random.randint(0, img_w - cut_w + 1, size=count)
    return yl, yl + cut_h, xl, xl + cut_w


def cutmix_bbox_and_lam(img_shape: Sequence[int],
                        lam: float,
                        ratio_minmax: Optional[Sequence[float]] = None,
                        correct_lam: bool = True,
                        count: Optional[int] = None) -> Tuple[BBox, float]:
    """Draw the CutMix box and, as timm, set lambda to the fraction the box leaves.

    Args:
        img_shape (Sequence[int]): Shape whose last two entries are (H, W).
        lam (float): Drawn lambda (ignored for the box when ``ratio_minmax`` is set).
        ratio_minmax (Sequence[float], optional): Use :func:`rand_bbox_minmax` with these
            fractions. Defaults to None (:func:`rand_bbox`).
        correct_lam (bool): Recompute lambda from the clipped box's area (always done with
            ``ratio_minmax``). Defaults to True.
        count (int, optional): Number of boxes. Defaults to None.

    Returns:
        tuple: ``((yl, yu, xl, xu), lam)``.
    """
    if ratio_minmax is not None:
        yl, yu, xl, xu = rand_bbox_minmax(img_shape, ratio_minmax, count=count)
    else:
        yl, yu, xl, xu = rand_bbox(img_shape, lam, count=count)
    if correct_lam or ratio_minmax is not None:
        bbox_area = (yu - yl) * (xu - xl)
        lam = 1. - bbox_area / float(img_shape[-2] * img_shape[-1])
    return (yl, yu, xl, xu), lam


def smooth_target(score: torch.Tensor, smoothing: float = 0.) -> torch.Tensor:
    """Label-smooth (N, C) scores: ``score * (1 - s) + s / C``, as float32.

    For a one-hot score this is exactly timm's ``one_hot(target, C, on_value, off_value)``
    with ``off = s / C`` and ``on = 1 - s + off``: 0 maps to ``off`` and 1 to
    ``(1 - s) + off``. Computing in float64 and rounding once to float32 repeats timm's
    rounding (timm computes the two values in Python floats and ``torch.full``/
    ``scatter_`` round them once), so the values are bit-identical. Soft or multi-hot scores
    are smoothed by the same affine map.

    Args:
        score (torch.Tensor): (N, C) scores, e.g. the preprocessor's integer one-hot.
        smoothing (float): Label smoothing ``s`` in [0, 1). Defaults to 0.

    Returns:
        torch.Tensor: The (N, C) float32 target.
    """
    num_classes = score.shape[-1]
    return (score.double() * (1. - smoothing) + smoothing / num_classes).float()


def mix_target(score: torch.Tensor, lam: Lam, smoothing: float = 0.) -> torch.Tensor:
    """timm's ``mixup_target`` from (N, C) scores: smooth, then mix with the flipped batch.

    Args:
        score (torch.Tensor): (N, C) scores (one-hot from ``ClsDataPreprocessor``).
        lam (float | torch.Tensor): The batch's lambda, or (N, 1) per-sample lambdas.
        smoothing (float): Label smoothing in [0, 1). Defaults to 0.

    Returns:
        torch.Tensor: ``y * lam + y.flip(0) * (1 - lam)`` with ``y`` the smoothed score.
    """
    y1 = smooth_target(score, smoothing)
    y2 = y1.flip(0)
    return y1 * lam + y2 * (1. - lam)


def batch_mix_params(mixup_alpha: float,
                     cutmix_alpha: float,
                     prob: float = 1.0,
                     switch_prob: float = 0.5,
                     enabled: bool = True) -> Tuple[float, bool]:
    """Draw one lambda and the mode for the whole batch (timm ``Mixup._params_per_batch``).

    Draws, in order: ``rand() < prob`` (mix or not); when both alphas are active,
    ``rand() < switch_prob`` (CutMix or Mixup); then one ``beta(alpha, alpha)``.

    Args:
        mixup_alpha (float): Mixup's Beta parameter; active if > 0.
        cutmix_alpha (float): CutMix's Beta parameter; active if > 0.
        prob (float): Probability of mixing the batch. Defaults to 1.0.
        switch_prob (float): Probability of CutMix when both are active. Defaults to 0.5.
        enabled (bool): False draws nothing and returns no mixing. Defaults to True.

    Returns:
        tuple: ``(lam, use_cutmix)``; ``lam == 1.`` means the batch is left as it is.
    """
    lam = 1.
    use_cutmix = False
    if enabled and np.random.rand() < prob:
        if mixup_alpha > 0. and cutmix_alpha > 0.:
            use_cutmix = np.random.rand() < switch_prob
            lam_mix = np.random.beta(cutmix_alpha, cutmix_alpha) if use_cutmix else \
                np.random.beta(mixup_alpha, mixup_alpha)
        elif mixup_alpha > 0.:
            lam_mix = np.random.beta(mixup_alpha, mixup_alpha)
        elif cutmix_alpha > 0.:
            use_cutmix = True
            lam_mix = np.random.beta(cutmix_alpha, cutmix_alpha)
        else:
            raise ValueError('one of mixup_alpha, cutmix_alpha must be > 0, got '
                             f'{mixup_alpha!r} and {cutmix_alpha!r}')
        lam = float(lam_mix)
    return lam, bool(use_cutmix)


def elem_mix_params(batch_size: int,
                    mixup_alpha: float,
                    cutmix_alpha: float,
                    prob: float = 1.0,
                    switch_prob: float = 0.5,
                    enabled: bool = True) -> Tuple[np.ndarray, np.ndarray]:
    """Draw a lambda and a mode per element (timm ``Mixup._params_per_elem``).

    Args:
        batch_size (int): Number of lambdas to draw.
        mixup_alpha (float): Mixup's Beta parameter; active if > 0.
        cutmix_alpha (float): CutMix's Beta parameter; active if > 0.
        prob (float): Probability of mixing each element. Defaults to 1.0.
        switch_prob (float): Probability of CutMix when both are active. Defaults to 0.5.
        enabled (bool): False draws nothing and returns no mixing. Defaults to True.

    Returns:
        tuple: ``(lam, use_cutmix)``, a float32 and a bool array of ``batch_size``.
    """
    lam = np.ones(batch_size, dtype=np.float32)
    use_cutmix = np.zeros(batch_size, dtype=bool)
    if enabled:
        if mixup_alpha > 0. and cutmix_alpha > 0.:
            use_cutmix = np.random.rand(batch_size) < switch_prob
            lam_mix = np.where(
                use_cutmix,
                np.random.beta(cutmix_alpha, cutmix_alpha, size=batch_size),
                np.random.beta(mixup_alpha, mixup_alpha, size=batch_size))
        elif mixup_alpha > 0.:
            lam_mix = np.random.beta(mixup_alpha, mixup_alpha, size=batch_size)
        elif cutmix_alpha > 0.:
            use_cutmix = np.ones(batch_size, dtype=bool)
            lam_mix = np.random.beta(cutmix_alpha, cutmix_alpha, size=batch_size)
        else:
            raise ValueError('one of mixup_alpha, cutmix_alpha must be > 0, got '
                             f'{mixup_alpha!r} and {cutmix_alpha!r}')
        lam = np.where(np.random.rand(batch_size) < prob, lam_mix.astype(np.float32), lam)
    return lam, use_cutmix


def mix_batch(inputs: torch.Tensor,
              lam: float,
              use_cutmix: bool,
              cutmix_minmax: Optional[Sequence[float]] = None,
              correct_lam: bool = True) -> Tuple[torch.Tensor, float]:
    """Mix every image with its partner in the flipped batch (timm ``Mixup._mix_batch``).

    Mixup: ``x * lam + x.flip(0) * (1 - lam)``. CutMix: one box (drawn here with
    :func:`cutmix_bbox_and_lam`) pasted from the flipped batch, lambda corrected.

    Args:
        inputs (torch.Tensor): (N, C, H, W) images; not modified.
        lam (float): The batch's lambda; 1 returns the images unchanged.
        use_cutmix (bool): CutMix instead of Mixup.
        cutmix_minmax (Sequence[float], optional): See :func:`cutmix_bbox_and_lam`.
            Defaults to None.
        correct_lam (bool): See :func:`cutmix_bbox_and_lam`. Defaults to True.

    Returns:
        tuple: The mixed images and the (corrected) lambda.
    """
    if lam == 1.:
        return inputs, 1.
    if use_cutmix:
        (yl, yh, xl, xh), lam = cutmix_bbox_and_lam(
            inputs.shape, lam, ratio_minmax=cutmix_minmax, correct_lam=correct_lam)
        mixed = inputs.clone()
        mixed[:, :, yl:yh, xl:xh] = inputs[:, :, yl:yh, xl:xh].flip(0)
        return mixed, lam
    return inputs * lam + inputs.flip(0) * (1. - lam), lam


def mix_elem(inputs: torch.Tensor,
             lam_batch: np.ndarray,
             use_cutmix: np.ndarray,
             cutmix_minmax: Optional[Sequence[float]] = None,
             correct_lam: bool = True) -> Tuple[torch.Tensor, torch.Tensor]:
    """Mix image ``i`` with image ``N - 1 - i``, each with its own lambda and mode.

    timm ``Mixup._mix_elem``: every element draws its own CutMix box, in batch order.

    Args:
        inputs (torch.Tensor): (N, C, H, W) images; not modified.
        lam_batch (np.ndarray): N lambdas from :func:`elem_mix_params`; not modified.
        use_cutmix (np.ndarray): N booleans.
        cutmix_minmax (Sequence[float], optional): See :func:`cutmix_bbox_and_lam`.
            Defaults to None.
        correct_lam (bool): See :func:`cutmix_bbox_and_lam`. Defaults to True.

    Returns:
        tuple: The mixed images and the (N, 1) lambdas in the images' dtype.
    """
    batch_size = len(inputs)
    lam_batch = lam_batch.copy()
    mixed = inputs.clone()
    for i in range(batch_size):
        j = batch_size - i - 1
        lam = lam_batch[i]
        if lam != 1.:
            if use_cutmix[i]:
                (yl, yh, xl, xh), lam = cutmix_bbox_and_lam(
                    mixed[i].shape, lam, ratio_minmax=cutmix_minmax, correct_lam=correct_lam)
                mixed[i][:, yl:yh, xl:xh] = inputs[j][:, yl:yh, xl:xh]
                lam_batch[i] = lam
            else:
                mixed[i] = mixed[i] * lam + inputs[j] * (1 - lam)
    return mixed, torch.tensor(lam_batch, device=inputs.device, dtype=inputs.dtype).unsqueeze(1)


def mix_pair(inputs: torch.Tensor,
             lam_batch: np.ndarray,
             use_cutmix: np.ndarray,
             cutmix_minmax: Optional[Sequence[float]] = None,
             correct_lam: bool = True) -> Tuple[torch.Tensor, torch.Tensor]:
    """Mix the pairs ``(i, N - 1 - i)`` both ways, one lambda and mode per pair.

    timm ``Mixup._mix_pair``; needs an even batch.

    Args:
        inputs (torch.Tensor): (N, C, H, W) images, N even; not modified.
        lam_batch (np.ndarray): N // 2 lambdas from :func:`elem_mix_params`.
        use_cutmix (np.ndarray): N // 2 booleans.
        cutmix_minmax (Sequence[float], optional): See :func:`cutmix_bbox_and_lam`.
            Defaults to None.
        correct_lam (bool): See :func:`cutmix_bbox_and_lam`. Defaults to True.

    Returns:
        tuple: The mixed images and the (N, 1) lambdas in the images' dtype.
    """
    batch_size = len(inputs)
    if batch_size % 2:
        raise ValueError(f"mode='pair' needs an even batch size, got {batch_size}")
    lam_batch = lam_batch.copy()
    mixed = inputs.clone()
    for i in range(batch_size // 2):
        j = batch_size - i - 1
        lam = lam_batch[i]
        if lam != 1.:
            if use_cutmix[i]:
                (yl, yh, xl, xh), lam = cutmix_bbox_and_lam(
                    mixed[i].shape, lam, ratio_minmax=cutmix_minmax, correct_lam=correct_lam)
                mixed[i][:, yl:yh, xl:xh] = inputs[j][:, yl:yh, xl:xh]
                mixed[j][:, yl:yh, xl:xh] = inputs[i][:, yl:yh, xl:xh]
                lam_batch[i] = lam
            else:
                mixed[i] = mixed[i] * lam + inputs[j] * (1 - lam)
                mixed[j] = mixed[j] * lam + inputs[i] * (1 - lam)
    lam_batch = np.concatenate((lam_batch, lam_batch[::-1]))
    return mixed, torch.tensor(lam_batch, device=inputs.device, dtype=inputs.dtype).unsqueeze(1)


def _check_unit(value: float, name: str) -> None:
    if not isinstance(value, Number) or not 0. <= value <= 1.:
        raise ValueError(f'{name} must be in [0, 1], got {value!r}')


@BATCH_AUGMENTS.register_module()
class MixupCutMix:
    """timm's ``Mixup`` (Mixup and CutMix, switched per batch) for ``ClsDataPreprocessor``.

    Use it as the only batch augment, so that ``RandomBatchAugment`` makes no draw of its
    own (with one augment and no ``probs`` its ``np.random.choice`` consumes nothing)::

        data_preprocessor = dict(
            type='ClsDataPreprocessor', num_classes=1000, mean=..., std=..., to_rgb=True,
            batch_augments=dict(augments=[dict(
                type='MixupCutMix', mixup_alpha=0.2, cutmix_alpha=1.0,
                label_smoothing=0.1)]))

    Called as ``inputs, batch_score = aug(inputs, batch_score)``, with the normalised
    (N, C, H, W) images and the (N, num_classes) one-hot scores the preprocessor built. In
    mode 'batch' (RSB's), one lambda and mode per batch are drawn from ``np.random`` in
    timm's order, every image is mixed with its partner in the flipped batch, and the
    target is timm's ``mixup_target``: smoothing ``score * (1 - s) + s / C`` (on a one-hot
    score, timm's on/off values, see :func:`smooth_target`), then
    ``y * lam + y.flip(0) * (1 - lam)`` with the corrected lambda. Modes 'pair' and 'elem'
    are timm's too.

    Unlike timm, an odd batch is accepted in modes 'batch' and 'elem' (MMPretrain loaders
    keep the last, smaller batch unless ``drop_last=True``): the middle image is paired
    with itself, which leaves its image and target unchanged (up to float rounding) except for
    the smoothing.

    Args:
        mixup_alpha (float): Mixup's Beta(alpha, alpha); active if > 0. Defaults to 1.0.
        cutmix_alpha (float): CutMix's Beta(alpha, alpha); active if > 0. Defaults to 0.
        cutmix_minmax (Sequence[float], optional): CutMix box sides drawn between these
            fractions of the image, instead of from lambda; forces ``cutmix_alpha=1.0`` as
            timm does. Defaults to None.
        prob (float): Probability of mixing a batch (or element). Defaults to 1.0.
        switch_prob (float): Probability of CutMix instead of Mixup when both are active.
            Defaults to 0.5.
        mode (str): 'batch', 'pair' or 'elem' (how lambdas are shared). Defaults to
            'batch'.
        correct_lam (bool): Correct lambda for the clipped CutMix box. Defaults to True.
        label_smoothing (float): Label smoothing in [0, 1) applied to the target before
            mixing. Defaults to 0.1 (timm's default; RSB A2/A3 use 0).
        num_classes (int, optional): If set, the scores must have this many classes.
            Defaults to None (taken from the scores).
    """

    def __init__(self,
                 mixup_alpha: float = 1.,
                 cutmix_alpha: float = 0.,
                 cutmix_minmax: Optional[Sequence[float]] = None,
                 prob: float = 1.0,
                 switch_prob: float = 0.5,
                 mode: str = 'batch',
                 correct_lam: bool = True,
                 label_smoothing: float = 0.1,
                 num_classes: Optional[int] = None):
        for name, alpha in (('mixup_alpha', mixup_alpha), ('cutmix_alpha', cutmix_alpha)):
            if not isinstance(alpha, Number) or alpha < 0:
                raise ValueError(f'{name} must be >= 0, got {alpha!r}')
        if cutmix_minmax is not None:
            if (len(cutmix_minmax) != 2
                    or not all(isinstance(v, Number) for v in cutmix_minmax)
                    or not 0. <= cutmix_minmax[0] < cutmix_minmax[1] <= 1.):
                raise ValueError('cutmix_minmax must be (min, max) with 0 <= min < max <= 1, '
                                 f'got {cutmix_minmax!r}')
            # timm forces alpha 1 with minmax, so the lambda draw (then unused) matches.
            cutmix_alpha = 1.0
        if not (mixup_alpha > 0 or cutmix_alpha > 0):
            raise ValueError('one of mixup_alpha, cutmix_alpha must be > 0 (or cutmix_minmax '
                             f'set), got {mixup_alpha!r} and {cutmix_alpha!r}')
        _check_unit(prob, 'prob')
        _check_unit(switch_prob, 'switch_prob')
        if mode not in _MODES:
            raise ValueError(f'mode must be one of {_MODES}, got {mode!r}')
        if not isinstance(label_smoothing, Number) or not 0. <= label_smoothing < 1.:
            raise ValueError(f'label_smoothing must be in [0, 1), got {label_smoothing!r}')
        if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 1):
            raise ValueError(f'num_classes must be None or a positive int, got {num_classes!r}')
        self.mixup_alpha = mixup_alpha
        self.cutmix_alpha = cutmix_alpha
        self.cutmix_minmax = cutmix_minmax
        self.mix_prob = prob
        self.switch_prob = switch_prob
        self.mode = mode
        self.correct_lam = correct_lam
        self.label_smoothing = label_smoothing
        self.num_classes = num_classes
        # timm's switch for turning mixing off late in training (``mixup_off_epoch``).
        self.mixup_enabled = True

    def __call__(self, inputs: torch.Tensor,
                 batch_score: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Mix a batch of images and their scores.

        Args:
            inputs (torch.Tensor): (N, C, H, W) normalised images; not modified.
            batch_score (torch.Tensor): (N, num_classes) one-hot (or soft) scores.

        Returns:
            tuple: The mixed images and the (N, num_classes) float32 mixed targets.
        """
        if inputs.dim() != 4:
            raise ValueError(f'inputs must be (N, C, H, W), got shape {tuple(inputs.shape)}')
        if batch_score.dim() != 2 or batch_score.shape[0] != inputs.shape[0]:
            raise ValueError('batch_score must be (N, num_classes) with N = '
                             f'{inputs.shape[0]}, got shape {tuple(batch_score.shape)}')
        if self.num_classes is not None and batch_score.shape[1] != self.num_classes:
            raise ValueError(f'batch_score has {batch_score.shape[1]} classes, but '
                             f'num_classes is {self.num_classes}')
        params = (self.mixup_alpha, self.cutmix_alpha, self.mix_prob, self.switch_prob,
                  self.mixup_enabled)
        box = dict(cutmix_minmax=self.cutmix_minmax, correct_lam=self.correct_lam)
        if self.mode == 'batch':
            lam, use_cutmix = batch_mix_params(*params)
            mixed, lam = mix_batch(inputs, lam, use_cutmix, **box)
        elif self.mode == 'pair':
            if len(inputs) % 2:
                raise ValueError(f"mode='pair' needs an even batch size, got {len(inputs)}")
            lam_batch, use_cutmix = elem_mix_params(len(inputs) // 2, *params)
            mixed, lam = mix_pair(inputs, lam_batch, use_cutmix, **box)
        else:
            lam_batch, use_cutmix = elem_mix_params(len(inputs), *params)
            mixed, lam = mix_elem(inputs, lam_batch, use_cutmix, **box)
        return mixed, mix_target(batch_score, lam, self.label_smoothing)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(mixup_alpha={self.mixup_alpha}, '
                f'cutmix_alpha={self.cutmix_alpha}, cutmix_minmax={self.cutmix_minmax}, '
                f'prob={self.mix_prob}, switch_prob={self.switch_prob}, mode={self.mode!r}, '
                f'correct_lam={self.correct_lam}, label_smoothing={self.label_smoothing}, '
                f'num_classes={self.num_classes})')
