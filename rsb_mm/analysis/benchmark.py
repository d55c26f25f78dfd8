"""The paper's Table 4 for any config: parameters, FLOPs, inference throughput, peak memory.

The paper measures on one V100 32GB, batch 128, FP16, at each model's test resolution
(ResNet-50: 25.6 M parameters, 4.1 GFLOPs, 2536.6 im/s, 1,155 MB). Here:

* **parameters**: every parameter of the built model (``sum(p.numel())``, classifier
  included, as the paper's 25.6 M for ResNet-50);
* **FLOPs**: MMEngine's ``FlopAnalyzer`` (``mmengine.analysis``, fvcore's counter) on one
  image at the test resolution. It counts a fused multiply-add as one FLOP, the convention of
  the paper's table (ResNet-50: 4.1 G). Its handles do not cover
  ``aten::scaled_dot_product_attention`` (timm's fused attention), so one is added here:
  ``q @ k^T`` and ``attn @ v``, ``B * heads * L * S * d`` each, as the two matmuls of the
  unfused attention would count;
* **throughput**: images per second of ``model(x, mode='tensor')`` on a random batch after
  warm-up iterations, under ``torch.inference_mode``; on a GPU with FP16 autocast and
  channels-last memory format (timm's ``benchmark.py`` settings), on the CPU in FP32. The data
  pipeline and preprocessing are not timed;
* **peak memory**: on a GPU, ``torch.cuda.max_memory_allocated`` over the timed iterations
  (weights, input and activations). On the CPU there is no allocator statistic: the peak
  resident-set growth of the process over the warm-up and timed iterations (Linux
  ``/proc/self/status`` ``VmHWM`` after resetting it through ``/proc/self/clear_refs``), i.e.
  activations and workspace without the weights already resident. It is a lower bound (memory
  the process freed before and still holds is reused without growth) and "n/a" where the
  kernel does not offer the reset.

Memory is in MB of 2**20 bytes.
"""
import contextlib
import os
import os.path as osp
import time
from typing import Any, List, NamedTuple, Optional, Sequence, Tuple, Union

import torch
from mmengine.config import Config
from torch import nn

__all__ = [
    'BenchmarkResult', 'count_parameters', 'count_flops', 'measure_throughput',
    'config_input_size', 'benchmark_config', 'format_table'
]

_PRECISIONS = {'fp32': None, 'fp16': torch.float16, 'bf16': torch.bfloat16}
_MB = float(2**20)


class BenchmarkResult(NamedTuple):
    """One row of the table.

    Attributes:
        name (str): Model name (the config's file name).
        params (int): Number of parameters.
        flops (int): FLOPs (multiply-adds) for one image.
        input_size (tuple[int, int]): Input height and width.
        batch_size (int): Batch size of the throughput measurement.
        device (str): 'cuda' or 'cpu'.
        precision (str): 'fp32', 'fp16' or 'bf16'.
        channels_last (bool): Whether the channels-last memory format was used.
        throughput (float): Images per second.
        peak_memory_mb (float | None): See the module docstring; None when not measurable.
        memory_kind (str): What ``peak_memory_mb`` measures.
        uncounted_ops (tuple[str, ...]): Operators the FLOP counter skipped.
    """
    name: str
    params: int
    flops: int
    input_size: Tuple[int, int]
    batch_size: int
    device: str
    precision: str
    channels_last: bool
    throughput: float
    peak_memory_mb: Optional[float]
    memory_kind: str
    uncounted_ops: Tuple[str, ...]


class _TensorForward(nn.Module):
    """``model(x, mode='tensor')`` as a plain ``forward(x)`` (for tracing and timing)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> Any:
        return self.model(x, mode='tensor')


def _as_tensor_forward(model: nn.Module) -> nn.Module:
    from mmengine.model import BaseModel
    return _TensorForward(model) if isinstance(model, BaseModel) else model


def count_parameters(model: nn.Module) -> int:
    """Number of parameters of ``model`` (trainable or not)."""
    return sum(p.numel() for p in model.parameters())


def _sdpa_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    from mmengine.analysis.jit_handles import get_shape
    query, key = get_shape(inputs[0]), get_shape(inputs[1])
    *batch, length, dim = query
    source = key[-2]
    batch_size = 1
    for size in batch:
        batch_size *= size
    # q @ k^T and softmax(.) @ v: two matmuls of L x d x S multiply-adds per batch and head.
    return 2 * batch_size * length * source * dim


def count_flops(model: nn.Module, input_size: Tuple[int, int]) -> Tuple[int, Tuple[str, ...]]:
    """FLOPs (fused multiply-adds) of one forward pass on one image.

    Args:
        model (nn.Module): The model, on the CPU; an MMEngine model runs in ``'tensor'`` mode.
        input_size (tuple[int, int]): Input height and width.

    Returns:
        tuple[int, tuple[str, ...]]: The count and the operators it could not count.
    """
    from mmengine.analysis import FlopAnalyzer

    inputs = torch.zeros(1, 3, *input_size)
    module = _as_tensor_forward(model).eval()
    analyzer = FlopAnalyzer(module, (inputs, ))
    analyzer.set_op_handle('aten::scaled_dot_product_attention', _sdpa_flop_jit)
    analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    analyzer.tracer_warnings('none')
    with torch.no_grad():
        total = analyzer.total()
    return int(total), tuple(sorted(analyzer.unsupported_ops()))


def _read_status_kb(field: str) -> Optional[int]:
    try:
        with open('/proc/self/status', encoding='ascii') as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    # Writing 5 to clear_refs resets VmHWM to the current RSS (Linux >= 4.0).
    try:
        with open('/proc/self/clear_refs', 'w', encoding='ascii') as f:
            f.write('5')
    except OSError:
        return False
    return _read_status_kb('VmHWM') is not None


def _resolve(device: Optional[str], precision: Optional[str],
             channels_last: Optional[bool]) -> Tuple[str, str, bool]:
    device = device or ('cuda' if torch.cuda.is_available() else 'cpu')
    if device.startswith('cuda') and not torch.cuda.is_available():
        raise ValueError(f'device {device!r} asked for, but torch sees no GPU')
    on_gpu = device.startswith('cuda')
    precision = precision or ('fp16' if on_gpu else 'fp32')
    if precision not in _PRECISIONS:
        raise ValueError(f'precision must be one of {sorted(_PRECISIONS)}, got {precision!r}')
    if precision == 'fp16' and not on_gpu:
        raise ValueError('fp16 autocast needs a GPU; on the CPU use fp32 (or bf16)')
    if channels_last is None:
        channels_last = on_gpu
    return device, precision, channels_last


def measure_throughput(model: nn.Module,
                       input_size: Tuple[int, int],
                       batch_size: int = 128,
                       device: Optional[str] = None,
                       precision: Optional[str] = None,
                       channels_last: Optional[bool] = None,
                       warmup: int = 10,
                       iters: int = 40) -> Tuple[float, Optional[float], str]:
    """Inference throughput and peak memory on a random batch.

    Args:
        model (nn.Module): The model; an MMEngine model runs in ``'tensor'`` mode. It is moved
            to ``device`` (and to channels-last when asked).
        input_size (tuple[int, int]): Input height and width.
        batch_size (int): Images per forward pass. Defaults to 128 (the paper's).
        device (str, optional): 'cuda[:i]' or 'cpu'. Defaults to the GPU when there is one.
        precision (str, optional): 'fp16' / 'bf16' (autocast) or 'fp32'. Defaults to fp16 on a
            GPU, fp32 on the CPU.
        channels_last (bool, optional): Channels-last memory format. Defaults to True on a
            GPU, False on the CPU.
        warmup (int): Untimed iterations first. Defaults to 10.
        iters (int): Timed iterations. Defaults to 40.

    Returns:
        tuple[float, float | None, str]: Images per second, peak memory in MB (None when not
        measurable) and what that memory figure measures.

    Raises:
        ValueError: On an impossible device / precision, or non-positive sizes.
    """
    if batch_size < 1 or iters < 1 or warmup < 0:
        raise ValueError(f'batch_size and iters must be >= 1 and warmup >= 0, got '
                         f'{batch_size}, {iters}, {warmup}')
    device, precision, channels_last = _resolve(device, precision, channels_last)
    on_gpu = device.startswith('cuda')
    module = _as_tensor_forward(model).eval().to(device)
    inputs = torch.randn(batch_size, 3, *input_size, device=device)
    if channels_last:
        module = module.to(memory_format=torch.channels_last)
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    dtype = _PRECISIONS[precision]
    autocast = (torch.autocast(device_type='cuda' if on_gpu else 'cpu', dtype=dtype)
                if dtype is not None else contextlib.nullcontext())

    def sync() -> None:
        if on_gpu:
            torch.cuda.synchronize(device)

    if on_gpu:
        rss_before, rss_reset = None, False
    else:
        # From before the first forward pass: the warm-up allocates the activations, and the
        # timed iterations reuse that memory.
        rss_before = _read_status_kb('VmRSS')
        rss_reset = rss_before is not None and _reset_peak_rss()
    with torch.inference_mode(), autocast:
        for _ in range(warmup):
            module(inputs)
        sync()
        if on_gpu:
            torch.cuda.reset_peak_memory_stats(device)
        start = time.perf_counter()
        for _ in range(iters):
            module(inputs)
        sync()
        elapsed = time.perf_counter() - start
    throughput = batch_size * iters / elapsed
    if on_gpu:
        return (throughput, torch.cuda.max_memory_allocated(device) / _MB,
                'torch.cuda.max_memory_allocated')
    if rss_reset:
        peak = _read_status_kb('VmHWM')
        return throughput, max(peak - rss_before, 0) * 1024 / _MB, 'peak RSS growth'
    return throughput, None, 'n/a'


def config_input_size(cfg: Config, default: int = 224) -> Tuple[int, int]:
    """The test resolution of a config: its test pipeline's crop (or resize) size.

    Args:
        cfg (Config): The config.
        default (int): Side used when the pipeline names none. Defaults to 224.

    Returns:
        tuple[int, int]: Height and width.
    """
    loader = cfg.get('test_dataloader', None) or cfg.get('val_dataloader', None) or {}
    pipeline = loader.get('dataset', {}).get('pipeline', []) or []
    for key, transform in (('crop_size', 'CenterCrop'), ('scale', 'Resize')):
        for step in reversed(pipeline):
            if step.get('type') == transform and key in step:
                size = step[key]
                if isinstance(size, int):
                    return size, size
                # MMPretrain / MMDetection give (width, height)
                return int(size[1]), int(size[0])
    return default, default


def benchmark_config(config: Union[str, Config],
                     checkpoint: Optional[str] = None,
                     input_size: Optional[Union[int, Sequence[int]]] = None,
                     batch_size: int = 128,
                     device: Optional[str] = None,
                     precision: Optional[str] = None,
                     channels_last: Optional[bool] = None,
                     warmup: int = 10,
                     iters: int = 40,
                     name: Optional[str] = None) -> BenchmarkResult:
    """Build a config's model and measure its Table 4 row.

    Args:
        config (str | Config): The config (any model an MMEngine config builds; runs in
            ``'tensor'`` mode).
        checkpoint (str, optional): Weights to load strictly (speed and memory do not depend
            on them). Defaults to None.
        input_size (int | Sequence[int], optional): Side or (height, width). Defaults to the
            config's test resolution (:func:`config_input_size`).
        batch_size (int): Throughput batch size. Defaults to 128.
        device (str, optional): See :func:`measure_throughput`.
        precision (str, optional): See :func:`measure_throughput`.
        channels_last (bool, optional): See :func:`measure_throughput`.
        warmup (int): Untimed iterations. Defaults to 10.
        iters (int): Timed iterations. Defaults to 40.
        name (str, optional): Row name. Defaults to the config's file name.

    Returns:
        BenchmarkResult: The row.
    """
    from ..apis import get_model
    from ..apis.model import load_config

    cfg = load_config(config)
    if name is None:
        name = (osp.splitext(osp.basename(config))[0] if isinstance(config, (str, os.PathLike))
                else 'model')
    if input_size is None:
        size = config_input_size(cfg)
    elif isinstance(input_size, int):
        size = (input_size, input_size)
    else:
        size = tuple(int(s) for s in input_size)
    device, precision, channels_last = _resolve(device, precision, channels_last)
    model = get_model(cfg, checkpoint, device='cpu')
    params = count_parameters(model)
    # Timed first: the FLOP count's tracing would leave freed memory for the CPU peak to reuse.
    throughput, memory, kind = measure_throughput(model, size, batch_size, device, precision,
                                                  channels_last, warmup, iters)
    flops, uncounted = count_flops(model.cpu().to(memory_format=torch.contiguous_format), size)
    return BenchmarkResult(name, params, flops, size, batch_size, device, precision,
                           channels_last, throughput, memory, kind, uncounted)


def format_table(results: Sequence[BenchmarkResult]) -> str:
    """The rows as a Markdown table in the paper's units (10^6 params, 10^9 FLOPs, im/s, MB).

    Args:
        results (Sequence[BenchmarkResult]): The rows.

    Returns:
        str: The table and a note per measurement kind, ending with a newline.
    """
    lines = ['| model | params (M) | FLOPs (G) | input | batch | device, precision | '
             'throughput (im/s) | peak mem (MB) |', '|---|---|---|---|---|---|---|---|']
    for r in results:
        memory = 'n/a' if r.peak_memory_mb is None else f'{r.peak_memory_mb:,.0f}'
        layout = ', channels-last' if r.channels_last else ''
        lines.append(f'| {r.name} | {r.params / 1e6:.1f} | {r.flops / 1e9:.2f} | '
                     f'{r.input_size[0]}x{r.input_size[1]} | {r.batch_size} | '
                     f'{r.device}, {r.precision}{layout} | {r.throughput:.1f} | {memory} |')
    notes = sorted({r.memory_kind for r in results})
    lines.append('')
    lines.append(f'Peak memory: {"; ".join(notes)} (MB = 2^20 bytes). FLOPs: multiply-adds of '
                 'one image (fvcore convention, as the paper).')
    for r in results:
        if r.uncounted_ops:
            lines.append(f'{r.name}: FLOPs leave out {", ".join(r.uncounted_ops)}.')
    return '\n'.join(lines) + '\n'
