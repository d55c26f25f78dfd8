# Grad-CAM maps of several checkpoints (e.g. RSB A1 / A2 / A3) side by side for a folder of
# images: one PNG grid, rows images, columns checkpoints. The logic lives in
# rsb_mm.analysis.gradcam, where it is tested.
import argparse

import rsb_mm  # noqa: F401  (registers modules; checkpoint allow-list)
from rsb_mm.analysis import gradcam_grid


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Grad-CAM of several checkpoints side by side, one PNG grid')
    parser.add_argument('images', help='folder of images (one row each)')
    parser.add_argument('out', help='output PNG')
    parser.add_argument('--model', nargs=3, action='append', required=True,
                        metavar=('LABEL', 'CONFIG', 'CHECKPOINT'),
                        help='one column; repeat for more. CHECKPOINT "none" keeps the random '
                        'initial weights')
    parser.add_argument('--target-layers', nargs='+', metavar='LAYER',
                        help='one layer name per --model ("default" for the last norm layer '
                        'of the backbone)')
    parser.add_argument('--target-category', type=int,
                        help='class to explain (default: each model\'s top class)')
    parser.add_argument('--cell-size', type=int, help='side of a cell (default: the first '
                        "model's input size)")
    parser.add_argument('--device', default='cpu', help='default: cpu')
    args = parser.parse_args(argv)
    if args.target_layers and len(args.target_layers) != len(args.model):
        parser.error(f'--target-layers needs one entry per --model ({len(args.model)})')
    return args


def main(argv=None):
    args = parse_args(argv)
    columns = [(label, config, None if ckpt.lower() == 'none' else ckpt)
               for label, config, ckpt in args.model]
    layers = None
    if args.target_layers:
        layers = [None if name == 'default' else name for name in args.target_layers]
    grid = gradcam_grid(columns, args.images, args.out, target_layers=layers,
                        target_category=args.target_category, cell_size=args.cell_size,
                        device=args.device)
    print(f'{grid.path}: {len(grid.images)} images x {len(grid.labels)} models, '
          f'{grid.size[0]}x{grid.size[1]} px, layers {grid.target_layers}')


if __name__ == '__main__':
    main()
