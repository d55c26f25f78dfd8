# Convert ResNet weights between timm, torchvision, MMPretrain and MMDetection (.pth or
# .safetensors), refusing any file that does not map completely. The logic lives in
# rsb_mm.weights (key_maps, convert), where it is tested.
import argparse
import sys

import rsb_mm  # noqa: F401  (checkpoint allow-list for torch.load's weights_only)
from rsb_mm.weights import ARCHS, FORMATS, WeightsMappingError, convert_file


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert ResNet weights between timm, torchvision, MMPretrain (classifier: '
        'backbone. + head.fc.) and MMDetection (backbone. only) layouts')
    parser.add_argument('src', help='input .pth/.safetensors file')
    parser.add_argument('dst', help='output .pth/.safetensors file (format by extension)')
    parser.add_argument('--src-format', choices=FORMATS,
                        help='layout of the input; detected from its keys when omitted')
    parser.add_argument('--dst-format', choices=FORMATS, required=True,
                        help='layout of the output')
    parser.add_argument('--arch', choices=sorted(ARCHS),
                        help='architecture (timm name); detected from the keys when omitted')
    parser.add_argument('--num-classes', type=int,
                        help='0 drops the classifier; N > 0 checks that it has N classes; '
                        'omitted keeps it as it is (an mmdet output never has one)')
    parser.add_argument('--key', help='checkpoint entry holding the weights, e.g. '
                        'state_dict_ema (default: state_dict, model, then the EMA entries)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        report = convert_file(args.src, args.dst, src=args.src_format, dst=args.dst_format,
                              arch=args.arch, num_classes=args.num_classes, key=args.key)
    except (WeightsMappingError, ValueError, FileNotFoundError) as exc:
        sys.exit(f'convert_weights: refused {args.src}:\n{exc}')
    print(f'{report.summary()} -> {args.dst}')


if __name__ == '__main__':
    main()
