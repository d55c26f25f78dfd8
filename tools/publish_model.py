# Prepare a checkpoint for publishing, in OpenMMLab's convention: keep the state dict and a
# minimal meta, name it {OUT_FILE_STEM}_{YYYYMMDD}-{sha256[:8]}.pth (optionally .safetensors
# too). The logic lives in rsb_mm.weights.publish, where it is tested.
import argparse

import rsb_mm  # noqa: F401  (checkpoint allow-list for torch.load's weights_only)
from rsb_mm.weights import publish_checkpoint


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Process a checkpoint to be published')
    parser.add_argument('in_file', help='input checkpoint (e.g. work_dirs/<cfg>/epoch_600.pth)')
    parser.add_argument('out_file', help='output path without date and hash, e.g. '
                        'publish/rsb-a1_resnet50 (a trailing .pth is removed)')
    parser.add_argument('--safetensors', action='store_true',
                        help='also write the state dict as .safetensors (same name scheme)')
    parser.add_argument('--no-ema', action='store_true',
                        help='publish the trained weights instead of the EMA weights of a '
                        'checkpoint saved with EMAHook')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    files = publish_checkpoint(args.in_file, args.out_file, safetensors=args.safetensors,
                               use_ema=not args.no_ema)
    print(files.pth)
    if files.safetensors:
        print(files.safetensors)


if __name__ == '__main__':
    main()
