"""timm's RandAugment (e.g. ``rand-m7-mstd0.5-inc1``) as an mmcv transform.

Reference: ``timm/data/auto_augment.py`` ``rand_augment_transform`` / ``RandAugment`` /
``AugmentOp`` (timm 1.0.31), built with the hparams ``timm/data/transforms_factory.py``
``transforms_imagenet_train`` passes for ``auto_augment='rand...'``:

* ``translate_const = int(min(img_size) * 0.45)`` (only the absolute ``TranslateX/Y`` ops
  read it; RandAugment's op sets use ``TranslateX/YRel``, up to ``translate_pct=0.45`` of the
  image side, so it has no effect on ``rand-...`` strings, as in timm);
* ``img_mean = tuple(min(255, round(255 * x)) for x in mean)``, the fill colour;
* ``interpolation = str_to_pil_interp(interpolation)`` only when it is not ``'random'``;
  otherwise each geometric op draws PIL bilinear or bicubic with ``random.choice``.

For ``rand-m7-mstd0.5-inc1``: ``num_layers=2`` ops drawn with replacement by
``np.random.choice`` from timm's 15 "increasing" ops, each applied with probability 0.5
(``random.random``), its magnitude drawn per call from ``random.gauss(7, 0.5)`` and clipped to
[0, 10]. Both ``random`` and ``np.random`` are therefore consumed, in timm's order.

We reuse timm's implementation rather than re-writing the ops: ``TimmRandAugment`` builds
timm's own ``RandAugment`` object and calls it, so the ops, their level functions and their
random draws are timm's by construction. What is ours is only the bridge to MMPretrain's
pipeline (``results['img']`` is a BGR uint8 numpy array): BGR -> RGB PIL, timm, back to BGR.

MMPretrain's own ``RandAugment`` (``mmpretrain/datasets/transforms/auto_augment.py``) is a
different policy: a fixed op list given in the config, ``magnitude_level`` / ``magnitude_std``
applied on numpy images with ``mmcv`` ops and ``np.random`` draws, ops that differ from timm's
(e.g. its translate is relative to the image with its own range, its ``Posterize`` /
``Solarize`` levels are not timm's "increasing" variants) and no random interpolation.
"""
import re
from numbers import Integral, Real
from typing import Dict, Sequence, Union

from mmcv.transforms import BaseTransform
from mmpretrain.registry import TRANSFORMS
from timm.data.auto_augment import posterize as timm_posterize
from timm.data.auto_augment import rand_augment_transform
from timm.data.constants import IMAGENET_DEFAULT_MEAN
from timm.data.transforms import str_to_pil_interp

from .timm_random_resized_crop import INTERPOLATIONS, _check_image, bgr_to_pil, pil_to_bgr

__all__ = ['timm_rand_augment_hparams', 'build_timm_rand_augment', 'TimmRandAugment']


def timm_rand_augment_hparams(img_size: Union[int, Sequence[int]] = 224,
                              mean: Sequence[float] = IMAGENET_DEFAULT_MEAN,
                              interpolation: str = 'random') -> Dict:
    """Return the hparams ``transforms_imagenet_train`` passes to ``rand_augment_transform``.

    Args:
        img_size (int | Sequence[int]): the training crop size (an int, or a pair whose
            smaller side is used, as timm does). Defaults to 224.
        mean (Sequence[float]): the normalisation mean in [0, 1] (timm's convention, not
            MMPretrain's 0-255 one); it becomes the fill colour. Defaults to ImageNet's.
        interpolation (str): ``'random'`` or a PIL interpolation name. Defaults to
            ``'random'``.

    Returns:
        dict: ``translate_const``, ``img_mean`` and, unless ``'random'``, ``interpolation``.

    Raises:
        ValueError: if an argument is out of its range, naming it and its value.
    """
    sizes = img_size if isinstance(img_size, (tuple, list)) else (img_size, )
    if not (1 <= len(sizes) <= 2
            and all(isinstance(s, Integral) and not isinstance(s, bool) and s > 0 for s in sizes)):
        raise ValueError(f'img_size must be a positive int or a pair of them, got {img_size!r}')
    if not (isinstance(mean, (tuple, list)) and len(mean) in (1, 3) and all(
            isinstance(m, Real) and not isinstance(m, bool) and 0. <= m <= 1. for m in mean)):
        raise ValueError('mean must be 1 or 3 values in [0, 1] (timm\'s convention, not the '
                         f'0-255 one of MMPretrain\'s data_preprocessor), got {mean!r}')
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f'interpolation must be one of {INTERPOLATIONS}, '
                         f'got {interpolation!r}')
    hparams = dict(
        translate_const=int(min(sizes) * 0.45),
        img_mean=tuple([min(255, round(255 * x)) for x in mean]),
    )
    if interpolation and interpolation != 'random':
        hparams['interpolation'] = str_to_pil_interp(interpolation)
    return hparams


def posterize_pillow_any(img, bits_to_keep: int, **kwargs):
    """timm's ``posterize`` with the output Pillow < 13 gave for 0 bits: a black image.

    timm's ``PosterizeIncreasing`` maps magnitude 10 to 0 bits (``4 - int(10 / 10 * 4)``); a
    magnitude std of 0.5 draws it now and then (m9 about 2% of the draws, m7 almost never).
    Pillow up to 12 turned 0 bits into a mask of 0 (a black image); Pillow 13 raises
    "bits must be between or equal to 1 and 8", which would stop a training run in its
    data loader. This keeps the older output, the one the paper's runs saw.

    Args:
        img (PIL.Image.Image): Image.
        bits_to_keep (int): Bits kept per channel.
        **kwargs: Ignored (timm passes the fill colour and interpolation to every op).

    Returns:
        PIL.Image.Image: The posterized image.
    """
    if bits_to_keep <= 0:
        return img.point(lambda _: 0)
    return timm_posterize(img, bits_to_keep, **kwargs)


def build_timm_rand_augment(config_str: str, hparams: Dict):
    """Build timm's ``RandAugment`` from ``config_str``, a ValueError for a bad string.

    Args:
        config_str (str): timm's RandAugment string, e.g. ``'rand-m7-mstd0.5-inc1'``.
        hparams (dict): see :func:`timm_rand_augment_hparams`; timm may add keys to it.

    Returns:
        timm.data.auto_augment.RandAugment: timm's transform on PIL images.

    Raises:
        ValueError: naming ``config_str`` if timm cannot parse it.
    """
    # timm checks the 'rand' prefix with an assert, which ``python -O`` strips.
    if not isinstance(config_str, str) or config_str.split('-')[0] != 'rand':
        raise ValueError('config_str must be a timm RandAugment string starting with '
                         f'"rand-" (e.g. "rand-m7-mstd0.5-inc1"), got {config_str!r}')
    # timm silently skips a section with no digit (not a 't...' one), so a typo such as
    # 'rand-m7-mstd0.5-inc' would quietly drop the increasing ops: refuse it instead.
    skipped = [
        c for c in config_str.split('-')[1:]
        if not c.startswith('t') and len(re.split(r'(\d.*)', c)) < 2
    ]
    if skipped:
        raise ValueError(f'config_str has sections timm would silently ignore {skipped}, got '
                         f'{config_str!r}')
    try:
        augment = rand_augment_transform(config_str, hparams)
    except (AssertionError, ValueError, TypeError, KeyError, IndexError) as e:
        raise ValueError(f'config_str is not a valid timm RandAugment string, got '
                         f'{config_str!r} ({type(e).__name__}: {e})') from e
    for op in augment.ops:
        if op.aug_fn is timm_posterize:
            op.aug_fn = posterize_pillow_any
    return augment


@TRANSFORMS.register_module()
class TimmRandAugment(BaseTransform):
    """timm's ``RandAugment`` on an MMCV (BGR numpy) image.

    Required Keys:

    - img

    Modified Keys:

    - img
    - img_shape

    Args:
        config_str (str): timm's RandAugment string. Defaults to ``'rand-m7-mstd0.5-inc1'``
            (RSB A1/A2; A3 uses ``'rand-m6-mstd0.5-inc1'``).
        img_size (int | Sequence[int]): the training crop size, giving timm's
            ``translate_const = int(min(img_size) * 0.45)`` (read only by absolute-translate
            ops, which timm's RandAugment op sets do not use). Defaults to 224.
        mean (Sequence[float]): normalisation mean in [0, 1]; ``round(255 * mean)`` fills the
            pixels the geometric ops uncover. Defaults to ImageNet's ``(0.485, 0.456, 0.406)``.
        interpolation (str): ``'random'`` (each geometric op draws PIL bilinear or bicubic, as
            timm does with ``--train-interpolation random``) or a fixed PIL interpolation name.
            Defaults to ``'random'``.

    Raises:
        ValueError: if an argument is out of its range, naming it and its value.
    """

    def __init__(self,
                 config_str: str = 'rand-m7-mstd0.5-inc1',
                 img_size: Union[int, Sequence[int]] = 224,
                 mean: Sequence[float] = IMAGENET_DEFAULT_MEAN,
                 interpolation: str = 'random') -> None:
        super().__init__()
        self.config_str = config_str
        self.img_size = img_size
        self.mean = tuple(mean) if isinstance(mean, (tuple, list)) else mean
        self.interpolation = interpolation
        self.hparams: Dict = timm_rand_augment_hparams(img_size, mean, interpolation)
        self.timm_transform = build_timm_rand_augment(config_str, dict(self.hparams))

    def transform(self, results: Dict) -> Dict:
        """Apply timm's RandAugment to ``results['img']`` and update ``img_shape``.

        Args:
            results (dict): the result dict from the previous transform.

        Returns:
            dict: ``results`` with the augmented image.
        """
        pil = bgr_to_pil(_check_image(results['img']))
        out = self.timm_transform(pil)
        # Every op skipped (probability 0.25 for two ops at p=0.5): timm returns the very
        # same image, so the array is already right and converting back would be wasted.
        if out is not pil:
            results['img'] = pil_to_bgr(out)
        results['img_shape'] = results['img'].shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(config_str={self.config_str!r}, '
                f'img_size={self.img_size!r}, mean={self.mean!r}, '
                f'interpolation={self.interpolation!r})')
