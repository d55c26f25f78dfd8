"""Measurement tools of the paper: seed study, complexity and speed, Grad-CAM, training curves.

Nothing here is registered, so ``import rsb_mm`` does not import this subpackage; matplotlib
and pytorch_grad_cam are imported only inside the functions that draw.
"""
from .benchmark import (BenchmarkResult, benchmark_config, config_input_size, count_flops,
                        count_parameters, format_table, measure_throughput)
from .curves import Curve, TrainingCurves, load_curves, plot_curves
from .gradcam import (CamColumn, GradCamGrid, compute_cams, default_target_layer, gradcam_grid,
                      list_images)
from .seed_study import (TEST_SETS, SeedRun, SetStatistics, collect_runs, format_markdown,
                         plot_val_vs_v2, run_seeds, seed_command, seed_statistics, write_csv,
                         write_seed_study)
from .work_dir_logs import (find_run_dirs, parse_text_log, read_records, read_seed,
                            read_test_metrics, split_records)

__all__ = [
    'BenchmarkResult', 'benchmark_config', 'config_input_size', 'count_flops',
    'count_parameters', 'format_table', 'measure_throughput', 'Curve', 'TrainingCurves',
    'load_curves', 'plot_curves', 'CamColumn', 'GradCamGrid', 'compute_cams',
    'default_target_layer', 'gradcam_grid', 'list_images', 'TEST_SETS', 'SeedRun',
    'SetStatistics', 'collect_runs', 'format_markdown', 'plot_val_vs_v2', 'run_seeds',
    'seed_command', 'seed_statistics', 'write_csv', 'write_seed_study', 'find_run_dirs',
    'parse_text_log', 'read_records', 'read_seed', 'read_test_metrics', 'split_records'
]
