"""Load an image file; a broken one is an error naming it, or (one switch) skipped and counted.

:class:`LoadImageFromFileChecked` loads exactly as ``LoadImageFromFile`` (same arguments, same
pixels) and checks the file:

* missing, empty, not decodable, or a JPEG without its end-of-image marker after its last scan
  (cut short: what a partial copy or a full disk leaves);
* ``on_error='raise'`` (default): :class:`UnreadableImageError` naming the file, its index in
  the data set and the reason;
* ``on_error='skip'``: a warning naming the file and index, the image counted
  (:attr:`LoadImageFromFileChecked.num_skipped`, shared with the DataLoader's worker
  processes), and ``None`` returned, so that ``BaseDataset`` loads a random other image in its
  place. ``UnreadableImageCountHook`` reports the count at every epoch end, summed over ranks.

Skipping is for training pipelines: in ``test_mode`` MMEngine's ``BaseDataset`` refuses a
``None`` sample, so evaluation data must be readable. Why (what mmcv's loader does with such
files): docs/design.md, "Training transforms". Tests:
tests/test_datasets/test_transforms/test_load_image_checked.py.
"""
import logging
import multiprocessing
from typing import Optional

import mmcv
from mmcv.transforms import LoadImageFromFile
from mmengine import fileio
from mmengine.logging import print_log
from mmpretrain.registry import TRANSFORMS

__all__ = ['LoadImageFromFileChecked', 'UnreadableImageError', 'jpeg_is_truncated']

_ON_ERROR = ('raise', 'skip')
_SOI, _SOS, _EOI = b'\xff\xd8', b'\xff\xda', b'\xff\xd9'


class UnreadableImageError(OSError):
    """An image file of a data set cannot be read or decoded."""


def jpeg_is_truncated(data: bytes) -> bool:
    """Whether JPEG bytes lack the end-of-image marker after their last start-of-scan.

    Inside a scan's entropy-coded data a 0xFF byte is always followed by 0x00 or a restart
    marker, so an ``FF D9`` after the last ``FF DA`` is the file's end marker. A thumbnail
    embedded in the EXIF header has its own markers, but before the main image's scans.

    Args:
        data (bytes): The file's content.

    Returns:
        bool: True for JPEG data cut short; False for complete JPEGs and non-JPEG data.
    """
    if not data.startswith(_SOI):
        return False
    # Equivalent to "no EOI after the last SOS", searched from the end: a complete file ends
    # with its EOI, so this reads a few bytes instead of scanning the whole entropy data.
    last_end = data.rfind(_EOI)
    return last_end < 0 or data.find(_SOS) < 0 or data.find(_SOS, last_end + 2) >= 0


class _SharedCounter:
    """An integer shared with the DataLoader's worker processes (forked or spawned)."""

    def __init__(self) -> None:
        self._value = multiprocessing.Value('q', 0)

    def increment(self) -> None:
        with self._value.get_lock():
            self._value.value += 1

    @property
    def value(self) -> int:
        return int(self._value.value)

    def __deepcopy__(self, memo) -> '_SharedCounter':
        # A copy of the pipeline counts into the same total (and a shared value cannot be
        # pickled outside process creation anyway).
        return self


@TRANSFORMS.register_module()
class LoadImageFromFileChecked(LoadImageFromFile):
    """``LoadImageFromFile`` whose errors name the file and sample, optionally skipping them.

    Args:
        on_error (str): ``'raise'`` an :class:`UnreadableImageError`, or ``'skip'`` the image
            (warn, count, and let the data set load a random other one). Defaults to
            ``'raise'``.
        **kwargs: ``LoadImageFromFile``'s arguments (``color_type``, ``imdecode_backend``,
            ``to_float32``, ``backend_args``). ``ignore_empty`` is not accepted: use
            ``on_error='skip'``.
    """

    def __init__(self, on_error: str = 'raise', **kwargs) -> None:
        if on_error not in _ON_ERROR:
            raise ValueError(f'on_error must be one of {_ON_ERROR}, got {on_error!r}')
        if kwargs.get('ignore_empty'):
            raise ValueError("ignore_empty=True skips unreadable images silently; use "
                             "on_error='skip', which counts and reports them")
        super().__init__(**kwargs)
        self.on_error = on_error
        self._skipped = _SharedCounter()

    @property
    def num_skipped(self) -> int:
        """Images skipped so far by this transform, in every process of this rank."""
        return self._skipped.value

    def _unreadable(self, filename: str, index, err: Exception) -> None:
        """Report an unreadable image by ``on_error``: raise, or warn, count and return None.

        Raises:
            UnreadableImageError: naming the file, its index and the reason, when
                ``on_error='raise'``.
        """
        index = 'unknown' if index is None else index
        reason = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
        if self.on_error == 'raise':
            raise UnreadableImageError(
                f'cannot read image {index} of the data set, {filename}: {reason}. Replace or '
                "remove the file, or set on_error='skip' on LoadImageFromFileChecked in the "
                'train pipeline to skip and count unreadable images') from err
        self._skipped.increment()
        print_log(f'Skipped unreadable image {index} of the data set, {filename}: {reason} '
                  '(a random other image is loaded in its place)',
                  logger='current', level=logging.WARNING)
        return None

    def transform(self, results: dict) -> Optional[dict]:
        """Load ``results['img_path']`` into ``results['img']`` (as ``LoadImageFromFile``).

        Args:
            results (dict): A data-set sample with ``img_path`` (and ``sample_idx``).

        Returns:
            dict | None: The sample with ``img``, ``img_shape`` and ``ori_shape``; None when
            the image is unreadable and ``on_error='skip'``.

        Raises:
            UnreadableImageError: when the image is unreadable and ``on_error='raise'``.
        """
        filename = results['img_path']
        try:
            data = self._read(filename)
            img = mmcv.imfrombytes(data, flag=self.color_type, backend=self.imdecode_backend)
            if img is None:
                raise ValueError(f'the {self.imdecode_backend} decoder could not decode it')
        except (OSError, ValueError, AssertionError, _decoder_error()) as err:
            return self._unreadable(filename, results.get('sample_idx'), err)
        if self.to_float32:
            img = img.astype('float32')
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def _read(self, filename: str) -> bytes:
        """The file's bytes, checked for being empty or a truncated JPEG."""
        if self.file_client_args is not None:
            data = fileio.FileClient.infer_client(self.file_client_args, filename).get(filename)
        else:
            data = fileio.get(filename, backend_args=self.backend_args)
        if len(data) == 0:
            raise ValueError('the file is empty (0 bytes)')
        if jpeg_is_truncated(data):
            raise ValueError('truncated JPEG (no end-of-image marker after its last scan)')
        return data

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", on_error='{self.on_error}')"


def _decoder_error() -> type:
    """The exception type OpenCV's decoder raises (``cv2.error``), or a never-raised stand-in."""
    try:
        import cv2
        return cv2.error
    except ImportError:  # pragma: no cover - mmcv needs OpenCV
        return ValueError
