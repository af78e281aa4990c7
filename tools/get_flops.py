"""Parameters and FLOPs of backbone and detector at a fixed input size.

Examples:
    python tools/get_flops.py configs/mask_rcnn_fasternet_s.py
    python tools/get_flops.py configs/mask_rcnn_fasternet_{s,m,l}.py \\
        mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py --shape 800 1280
"""
import argparse

from mmengine.utils import ProgressBar

from mmdet_fasternet.analysis import (MMDET2_UNCOUNTED, build_detector,
                                      complexity, load_model_config)
from mmdet_fasternet.runtime import add_shape_argument, check_shape, run_cli


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Parameters and FLOPs (1 multiply-add = 1 FLOP, '
        "mmengine's convention) at a fixed input size")
    parser.add_argument(
        'configs',
        nargs='+',
        help='config files, or mmdet::NAME for configs shipped with mmdet')
    add_shape_argument(parser, (800, 1280), 'input height and width')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    check_shape(args.shape, 32)
    rows = []
    progress = ProgressBar(2 * len(args.configs))
    for name in args.configs:
        detector = build_detector(load_model_config(name))
        for part, model in (('backbone', detector.backbone), ('detector',
                                                              detector)):
            result = complexity(model, tuple(args.shape))
            rows.append((name, part, result))
            progress.update()
    print(f'\n\nat {args.shape[0]}x{args.shape[1]}, batch 1; detector = '
          f'backbone + neck + dense heads + RoI heads on 1000 proposals '
          f'(mask head on 100), as mmdet 2.x get_flops')
    print('| config | part | params | FLOPs | FLOPs as mmdet 2.x counted |')
    print('|---|---|---|---|---|')
    for name, part, result in rows:
        print(f'| {name} | {part} | {result.params / 1e6:.2f}M | '
              f'{result.flops / 1e9:.1f}G | '
              f'{result.flops_mmdet2 / 1e9:.1f}G |')
    print(f'(the last column leaves out {", ".join(MMDET2_UNCOUNTED)}, '
          f"which the authors' mmdet 2.x counts evidently did not count)")


if __name__ == '__main__':
    raise SystemExit(run_cli(main))
